import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { BoardConfigError, parseBoardConfig } from "./board-config.ts";
import { repoRoot } from "./paths.ts";

describe("board configurations", () => {
  test("every shipped board config is valid", () => {
    const dir = join(repoRoot, "board-configs");
    const names = readdirSync(dir).filter((f) => f.endsWith(".toml"));
    expect(names.length).toBeGreaterThanOrEqual(3);
    for (const f of names) {
      const c = parseBoardConfig(readFileSync(join(dir, f), "utf8"), f);
      expect(`${c.name}.toml`).toBe(f);
    }
  });

  test("the default board", () => {
    const c = parseBoardConfig(readFileSync(join(repoRoot, "board-configs/qemu-x86_64.toml"), "utf8"), "qemu-x86_64.toml");
    expect(c).toMatchObject({ arch: "x86_64", debianArch: "amd64", image: { format: "initramfs" }, qemu: { memoryMiB: 1536, accel: ["kvm", "tcg"] } });
    expect(c.kernel.modules).toContain("dummy_hcd");
  });

  test("a bad config lists every problem with its key", () => {
    const bad = `name = "Bad Name"\narch = "riscv"\nhostname = "x"\ncolour = "red"\n[kernel]\npackage = "linux-image-amd64"\ncmdline = ""\nmodules = ["ok", "no/slash", 3]\n[image]\nformat = "sdcard"\n[image.sdcard]\nsize = "lots"\n`;
    try {
      parseBoardConfig(bad, "bad.toml");
      throw new Error("should fail");
    } catch (e) {
      expect(e).toBeInstanceOf(BoardConfigError);
      const msg = (e as Error).message;
      expect(msg).toStartWith("bad.toml: invalid board configuration:");
      for (const frag of ['name: "Bad Name" is not valid', "arch: must be one of x86_64, aarch64", "colour: unknown setting", "kernel.modules[2]: must be a non-empty string", 'kernel.modules[1]: "no/slash" is not a module name', "image.sdcard.size: must be a size", "image.sdcard.firmware_package: missing", "kernel.dtb: an sdcard image needs", "description: missing"]) {
        expect(msg).toContain(frag);
      }
    }
  });

  test("TOML syntax errors name the file", () => {
    expect(() => parseBoardConfig("name = ", "broken.toml")).toThrow(/broken.toml: invalid board configuration:\n  TOML syntax/);
  });
});
