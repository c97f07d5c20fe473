import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { DescriptionError } from "../../firmware/lib/description-schema.ts";
import { parseBoardConfig } from "./board-config.ts";
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

  test("presets, the console shell and the hardware watchdog", () => {
    const base = `name = "b"\ndescription = ""\narch = "aarch64"\nhostname = "b"\n[kernel]\npackage = "linux-image-arm64"\ncmdline = ""\n[qemu]\nmachine = "virt"\nconsole = "ttyAMA0"\n`;
    const c = parseBoardConfig(
      `${base}[units]\npresets = ["enable *.socket", "disable *"]\n[rootfs]\nconsole_shell = true\n[watchdog]\ndevice = "/dev/watchdog0"\nsec = 20\n`,
      "b.toml",
    );
    expect(c.units.presets).toEqual(["enable *.socket", "disable *"]);
    expect(c.rootfs.consoleShell).toBe(true);
    expect(c.watchdog).toEqual({ device: "/dev/watchdog0", sec: 20 });
    const d = parseBoardConfig(base, "b.toml");
    expect(d).toMatchObject({ units: { presets: [] }, rootfs: { consoleShell: false } });
    expect(d.watchdog).toBeUndefined();
    expect(() => parseBoardConfig(`${base}[units]\npresets = ["start foo"]\n[watchdog]\ndevice = "/dev/sda"\n`, "b.toml")).toThrow(
      /units.presets\[0\]: "start foo" is not valid[\s\S]*watchdog.device: "\/dev\/sda" is not valid/,
    );
  });

  test("a bad config lists every problem with its key and line", () => {
    const bad = `name = "Bad Name"\narch = "riscv"\nhostname = "x"\ncolour = "red"\n[kernel]\npackage = "linux-image-amd64"\ncmdline = ""\nmodules = ["ok", "no/slash", 3]\n[image]\nformat = "sdcard"\n[image.sdcard]\nsize = "lots"\n`;
    try {
      parseBoardConfig(bad, "bad.toml");
      throw new Error("should fail");
    } catch (e) {
      expect(e).toBeInstanceOf(DescriptionError);
      const msg = (e as Error).message;
      expect(msg).toStartWith("bad.toml: invalid board configuration:");
      for (const frag of [
        "name: \"Bad Name\" is not valid (lower-case letters, digits, '.', '_', '-') (line 1)",
        'arch: must be "x86_64" or "aarch64", not "riscv" (line 2)',
        "colour: unknown setting (line 4)",
        "kernel.modules[2]: must be a string, not 3 (line 8)",
        'kernel.modules[1]: "no/slash" is not valid (a module name) (line 8)',
        'image.sdcard.size: must be a size such as "512M", not "lots" (line 12)',
        "image.sdcard.firmware_package: missing (a string) (line 11)",
        "kernel.dtb: an sdcard image needs the board's device tree (line 5)",
        "  description: missing (a string)\n",
      ]) {
        expect(msg).toContain(frag);
      }
      expect((e as DescriptionError).problems).toHaveLength(10);
    }
  });

  test("TOML syntax errors name the file and line", () => {
    expect(() => parseBoardConfig('name = "x"\nname = ', "broken.toml")).toThrow(/^broken.toml: invalid board configuration:\n {2}TOML syntax: .* \(line 2\)$/);
  });

  test("the [gadget] table is checked with its board: paths under gadget., lines of the board file", () => {
    const text = readFileSync(join(repoRoot, "board-configs/qemu-x86_64.toml"), "utf8");
    const good = parseBoardConfig(text, "q.toml");
    if (!good.gadget) throw new Error("the default board composes a gadget");
    expect(good.gadget.config.source).toBe("q.toml");
    const lines = text.split("\n");
    const at = lines.findIndex((l) => /^vendor_id\s*=/.test(l));
    expect(at).toBeGreaterThan(0);
    lines[at] = "vendor_id = 70000";
    try {
      parseBoardConfig(lines.join("\n"), "q.toml");
      throw new Error("should fail");
    } catch (e) {
      expect((e as DescriptionError).problems).toEqual([{ path: "gadget.vendor_id", message: "70000 is out of range (0..0xffff)", line: at + 1 }]);
    }
  });
});
