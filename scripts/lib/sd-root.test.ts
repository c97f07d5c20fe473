import { describe, expect, test } from "bun:test";
import { sdLayout, sfdiskScript, stage1Init } from "./sd-root.ts";

describe("SD-card root", () => {
  test("layout: boot and root sized to their contents, the data partition takes the rest", () => {
    const l = sdLayout(256 * 2 ** 20, 60 * 2 ** 20 + 5, 40 * 2 ** 20);
    expect(l).toEqual({ bootStartMiB: 1, bootMiB: 65, rootStartMiB: 66, rootMiB: 41, dataStartMiB: 107, dataMiB: 149 });
    expect(sfdiskScript(l)).toBe(
      "label: dos\nstart=2048, size=133120, type=c, bootable\nstart=135168, size=83968, type=83\nstart=219136, size=305152, type=83\n",
    );
    expect(() => sdLayout(128 * 2 ** 20, 80 * 2 ** 20, 40 * 2 ** 20)).toThrow(/too small: boot 84 MiB \+ root 41 MiB leave 2 MiB for data/);
  });

  test("the first stage is valid busybox sh and switches to the squashfs root", async () => {
    const s = stage1Init("raspberrypi-zero2w");
    const p = Bun.spawn(["busybox", "sh", "-n"], { stdin: new TextEncoder().encode(s), stderr: "pipe" });
    expect(await p.exited).toBe(0);
    expect(s).toContain("mount -t squashfs -o ro");
    expect(s).toContain("exec switch_root /newroot /init");
  });
});
