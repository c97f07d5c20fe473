/**
 * Board configurations (board-configs/*.toml): parsed with Bun's TOML parser and validated
 * here, every problem reported with the file and the key ("kernel.modules[2]: ..."). Pure.
 */
import type { Arch } from "./paths.ts";
import { GadgetConfigError, validateGadgetConfig, type GadgetConfig } from "../../firmware/usb/gadget-config.ts";

export interface SdcardImage {
  size: number;
  firmwarePackage: string;
  configTxt: string;
}

export interface QemuSettings {
  machine: string;
  cpu: string;
  memoryMiB: number;
  smp: number;
  accel: ("kvm" | "tcg")[];
  console: string;
}

export interface BoardConfig {
  file: string;
  name: string;
  description: string;
  arch: Arch;
  debianArch: "amd64" | "arm64";
  hostname: string;
  kernel: { package: string; cmdline: string; modules: string[]; dtb?: string; dtSet: { node: string; prop: string; value: string }[] };
  rootfs: { packages: string[]; includeTests: boolean };
  units: { dirs: string[] };
  /** The gadget composed at boot; `raw` is written to /etc/bunit/gadget.json in the image. */
  gadget?: { raw: Record<string, unknown>; config: GadgetConfig };
  qemu?: QemuSettings;
  image: { format: "initramfs" | "sdcard"; sdcard?: SdcardImage };
}

export class BoardConfigError extends Error {
  constructor(
    readonly file: string,
    readonly problems: string[],
  ) {
    super(`${file}: invalid board configuration:\n${problems.map((p) => `  ${p}`).join("\n")}`);
    this.name = "BoardConfigError";
  }
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);

class Reader {
  problems: string[] = [];
  constructor(private readonly root: Obj) {}

  private at(path: string): unknown {
    let v: unknown = this.root;
    for (const k of path.split(".")) v = isObj(v) ? v[k] : undefined;
    return v;
  }
  private bad(path: string, msg: string): void {
    this.problems.push(`${path}: ${msg}`);
  }
  string(path: string, opts: { optional?: boolean; pattern?: RegExp; hint?: string } = {}): string {
    const v = this.at(path);
    if (v === undefined && opts.optional) return "";
    if (typeof v !== "string") {
      this.bad(path, v === undefined ? "missing (a string)" : `must be a string, not ${JSON.stringify(v)}`);
      return "";
    }
    if (opts.pattern && !opts.pattern.test(v)) this.bad(path, `"${v}" is not valid${opts.hint ? ` (${opts.hint})` : ""}`);
    return v;
  }
  oneOf<T extends string>(path: string, choices: readonly T[], dflt?: T): T {
    const v = this.at(path);
    if (v === undefined && dflt !== undefined) return dflt;
    if (typeof v !== "string" || !(choices as readonly string[]).includes(v)) {
      this.bad(path, `must be one of ${choices.join(", ")}${v === undefined ? " (missing)" : `, not ${JSON.stringify(v)}`}`);
      return choices[0]!;
    }
    return v as T;
  }
  strings(path: string, dflt?: string[]): string[] {
    const v = this.at(path);
    if (v === undefined && dflt) return dflt;
    if (!Array.isArray(v)) {
      this.bad(path, v === undefined ? "missing (a list of strings)" : "must be a list of strings");
      return [];
    }
    v.forEach((x, i) => {
      if (typeof x !== "string" || x === "") this.bad(`${path}[${i}]`, "must be a non-empty string");
    });
    return v.filter((x): x is string => typeof x === "string");
  }
  bool(path: string, dflt: boolean): boolean {
    const v = this.at(path);
    if (v === undefined) return dflt;
    if (typeof v !== "boolean") this.bad(path, "must be true or false");
    return v === true;
  }
  int(path: string, dflt: number, min: number, max: number): number {
    const v = this.at(path);
    if (v === undefined) return dflt;
    if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) {
      this.bad(path, `must be an integer in ${min}..${max}`);
      return dflt;
    }
    return v;
  }
  size(path: string, dflt?: string): number {
    const s = this.at(path) ?? dflt;
    const m = typeof s === "string" ? /^(\d+)([KMG])?$/.exec(s) : null;
    if (!m) {
      this.bad(path, `must be a size such as "512M"${s === undefined ? " (missing)" : `, not ${JSON.stringify(s)}`}`);
      return 0;
    }
    const unit = m[2] as "K" | "M" | "G" | undefined;
    return Number(m[1]) * (unit ? { K: 1024, M: 1024 ** 2, G: 1024 ** 3 }[unit] : 1);
  }
  unknownKeys(path: string, allowed: string[]): void {
    const v = path ? this.at(path) : this.root;
    if (!isObj(v)) return;
    for (const k of Object.keys(v)) if (!allowed.includes(k)) this.bad(path ? `${path}.${k}` : k, "unknown setting");
  }
}

const MODULE_NAME = /^[A-Za-z0-9_-]+$/;

/** Validates a parsed TOML document; throws BoardConfigError listing every problem. */
export function validateBoardConfig(doc: unknown, file: string): BoardConfig {
  if (!isObj(doc)) throw new BoardConfigError(file, ["the file must be a TOML table"]);
  const r = new Reader(doc);
  r.unknownKeys("", ["name", "description", "arch", "hostname", "kernel", "rootfs", "units", "gadget", "qemu", "image"]);
  const arch = r.oneOf("arch", ["x86_64", "aarch64"] as const);
  const format = r.oneOf("image.format", ["initramfs", "sdcard"] as const, "initramfs");
  const cfg: BoardConfig = {
    file,
    name: r.string("name", { pattern: /^[a-z0-9][a-z0-9._-]*$/, hint: "lower-case letters, digits, '.', '_', '-'" }),
    description: r.string("description"),
    arch,
    debianArch: arch === "x86_64" ? "amd64" : "arm64",
    hostname: r.string("hostname", { pattern: /^[A-Za-z0-9][A-Za-z0-9-]{0,62}$/, hint: "a host name" }),
    kernel: {
      package: r.string("kernel.package", { pattern: /^[a-z0-9][a-z0-9.+-]+$/, hint: "a Debian package name" }),
      cmdline: r.string("kernel.cmdline"),
      modules: r.strings("kernel.modules", []),
      dtSet: [],
      ...(doc.kernel && isObj(doc.kernel) && "dtb" in doc.kernel ? { dtb: r.string("kernel.dtb", { pattern: /^[\w./-]+\.dtb$/, hint: "a .dtb path inside the kernel package" }) } : {}),
    },
    rootfs: { packages: r.strings("rootfs.packages", []), includeTests: r.bool("rootfs.include_tests", false) },
    units: { dirs: r.strings("units.dirs", []) },
    image: { format },
  };
  r.unknownKeys("kernel", ["package", "cmdline", "modules", "dtb", "dt_set"]);
  r.strings("kernel.dt_set", []).forEach((e, i) => {
    const m = /^(\/[^:]*):([\w,.#+-]+)=(.*)$/.exec(e);
    if (!m) r.problems.push(`kernel.dt_set[${i}]: "${e}" is not /node/path:property=value`);
    else cfg.kernel.dtSet.push({ node: m[1]!, prop: m[2]!, value: m[3]! });
  });
  if (cfg.kernel.dtSet.length && !cfg.kernel.dtb) r.problems.push("kernel.dt_set: needs kernel.dtb");
  r.unknownKeys("rootfs", ["packages", "include_tests"]);
  r.unknownKeys("units", ["dirs"]);
  r.unknownKeys("image", ["format", "sdcard"]);
  cfg.kernel.modules.forEach((m, i) => {
    if (!MODULE_NAME.test(m)) r.problems.push(`kernel.modules[${i}]: "${m}" is not a module name`);
  });
  cfg.units.dirs.forEach((d, i) => {
    if (d.startsWith("/") || d.split("/").includes("..")) r.problems.push(`units.dirs[${i}]: "${d}" must be a path inside the repository`);
  });
  if (doc.gadget !== undefined) {
    if (!isObj(doc.gadget)) r.problems.push("gadget: must be a table");
    else {
      try {
        cfg.gadget = { raw: doc.gadget, config: validateGadgetConfig(doc.gadget, file, "gadget") };
      } catch (e) {
        if (!(e instanceof GadgetConfigError)) throw e;
        r.problems.push(...e.problems);
      }
    }
  }
  if (doc.qemu !== undefined) {
    r.unknownKeys("qemu", ["machine", "cpu", "memory", "smp", "accel", "console"]);
    const accel = r.strings("qemu.accel", ["tcg"]);
    accel.forEach((a, i) => {
      if (a !== "kvm" && a !== "tcg") r.problems.push(`qemu.accel[${i}]: must be "kvm" or "tcg"`);
    });
    cfg.qemu = {
      machine: r.string("qemu.machine"),
      cpu: r.string("qemu.cpu", { optional: true }) || "max",
      memoryMiB: r.size("qemu.memory", "1024M") / 1024 ** 2,
      smp: r.int("qemu.smp", 1, 1, 64),
      accel: accel.filter((a): a is "kvm" | "tcg" => a === "kvm" || a === "tcg"),
      console: r.string("qemu.console"),
    };
  }
  if (format === "sdcard") {
    r.unknownKeys("image.sdcard", ["size", "firmware_package", "config_txt"]);
    cfg.image.sdcard = {
      size: r.size("image.sdcard.size"),
      firmwarePackage: r.string("image.sdcard.firmware_package"),
      configTxt: r.string("image.sdcard.config_txt"),
    };
    if (!cfg.kernel.dtb) r.problems.push("kernel.dtb: an sdcard image needs the board's device tree");
  } else if (!cfg.qemu) {
    r.problems.push("qemu: an initramfs board needs a [qemu] section to be bootable here");
  }
  if (r.problems.length) throw new BoardConfigError(file, r.problems);
  return cfg;
}

/** Parses TOML text; syntax errors are reported with the file name. */
export function parseBoardConfig(text: string, file: string): BoardConfig {
  let doc: unknown;
  try {
    doc = Bun.TOML.parse(text);
  } catch (e) {
    throw new BoardConfigError(file, [`TOML syntax: ${(e as Error).message}`]);
  }
  return validateBoardConfig(doc, file);
}
