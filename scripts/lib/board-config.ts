/**
 * Board configurations (board-configs/*.toml): read by firmware/lib/config-text.ts and
 * validated here with the description schema, every problem reported with the file, the key
 * and its line ("kernel.modules[2]: ... (line 9)"). Pure.
 */
import type { Arch } from "./paths.ts";
import { readDescription, validateDescription } from "../../firmware/lib/config-text.ts";
import {
  bool,
  custom,
  dflt,
  int,
  isTable,
  list,
  obj,
  oneOf,
  opt,
  refine,
  req,
  show,
  str,
  validate,
  type Schema,
  type Table,
} from "../../firmware/lib/description-schema.ts";
import { gadgetSchema, type GadgetConfig } from "../../firmware/usb/gadget-config.ts";

export interface SdcardImage {
  size: number;
  /** "initramfs": the whole root in the initramfs; "squashfs": a read-only root partition on the card. */
  root: "initramfs" | "squashfs";
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
  /** Extra QEMU device arguments ("-device i6300esb" ...), appended to the command line. */
  extraArgs: string[];
}

export interface BoardConfig {
  file: string;
  name: string;
  description: string;
  arch: Arch;
  debianArch: "amd64" | "arm64";
  hostname: string;
  kernel: { package: string; cmdline: string; modules: string[]; dtb?: string; dtSet: { node: string; prop: string; value: string }[] };
  /** consoleShell: PID 1 keeps a root shell on the console (respawned) besides the daemon. */
  rootfs: { packages: string[]; includeTests: boolean; consoleShell: boolean };
  /** presets: systemd.preset(5) lines applied at image build (first match wins; no match: enable). */
  units: { dirs: string[]; presets: string[] };
  /** The hardware watchdog the daemon feeds (`bunit daemon --watchdog DEV --watchdog-sec N`). */
  watchdog?: { device: string; sec: number };
  /** The gadget composed at boot; `raw` is written to /etc/bunit/gadget.json in the image. */
  gadget?: { raw: Table; config: GadgetConfig };
  qemu?: QemuSettings;
  image: { format: "initramfs" | "sdcard"; sdcard?: SdcardImage };
}

/** What the error message calls these files. */
export const BOARD_KIND = "board configuration";

const MODULE_NAME = /^[A-Za-z0-9_-]+$/;
const UNITS = { K: 1024, M: 1024 ** 2, G: 1024 ** 3 };

/** "512M" -> bytes. */
const size: Schema<number> = custom(
  'a size such as "512M"',
  (v, w, path) => {
    const m = typeof v === "string" ? /^(\d+)([KMG])?$/.exec(v) : null;
    if (!m) return (w.add(path, `must be a size such as "512M", not ${show(v)}`), undefined);
    return Number(m[1]) * (m[2] ? UNITS[m[2] as keyof typeof UNITS] : 1);
  },
  () => 0,
);

const dtSet = refine(str(), (e, w, path) => {
  const m = /^(\/[^:]*):([\w,.#+-]+)=(.*)$/.exec(e);
  if (!m) return (w.add(path, `${show(e)} is not /node/path:property=value`), undefined);
  return { node: m[1]!, prop: m[2]!, value: m[3]! };
});

const kernel = refine(
  obj({
    package: req(str({ pattern: /^[a-z0-9][a-z0-9.+-]+$/, hint: "a Debian package name" })),
    cmdline: req(str({ empty: true })),
    modules: dflt(list(str({ pattern: MODULE_NAME, hint: "a module name" })), []),
    dtb: opt(str({ pattern: /^[\w./-]+\.dtb$/, hint: "a .dtb path inside the kernel package" })),
    dt_set: dflt(list(dtSet), []),
  }),
  (k, w, path): BoardConfig["kernel"] => {
    if (k.dt_set.length && k.dtb === undefined && !w.failed(`${path}.dtb`)) w.add(`${path}.dt_set`, "needs kernel.dtb");
    return { package: k.package, cmdline: k.cmdline, modules: k.modules, dtSet: k.dt_set, ...(k.dtb !== undefined ? { dtb: k.dtb } : {}) };
  },
);

const insideRepo = refine(str(), (d, w, path) =>
  d.startsWith("/") || d.split("/").includes("..") ? (w.add(path, `${show(d)} must be a path inside the repository`), undefined) : d,
);

const qemu = refine(
  obj({
    machine: req(str()),
    cpu: dflt(str(), "max"),
    memory: dflt(size, 1024 ** 3),
    smp: dflt(int(1, 64), 1),
    accel: dflt(list(oneOf(["kvm", "tcg"] as const)), ["tcg" as const]),
    console: req(str()),
    extra_args: dflt(list(str()), []),
  }),
  (q): QemuSettings => ({
    machine: q.machine,
    cpu: q.cpu,
    memoryMiB: q.memory / 1024 ** 2,
    smp: q.smp,
    accel: q.accel,
    console: q.console,
    extraArgs: q.extra_args,
  }),
);

const sdcard = refine(
  obj({ size: req(size), root: dflt(oneOf(["initramfs", "squashfs"] as const), "initramfs"), firmware_package: req(str()), config_txt: req(str()) }),
  (s): SdcardImage => ({ size: s.size, root: s.root, firmwarePackage: s.firmware_package, configTxt: s.config_txt }),
);

function boardSchema(file: string): Schema<BoardConfig> {
  const gadget = gadgetSchema(file);
  const fields = obj({
    name: req(str({ pattern: /^[a-z0-9][a-z0-9._-]*$/, hint: "lower-case letters, digits, '.', '_', '-'" })),
    description: req(str({ empty: true })),
    arch: req(oneOf(["x86_64", "aarch64"] as const)),
    hostname: req(str({ pattern: /^[A-Za-z0-9][A-Za-z0-9-]{0,62}$/, hint: "a host name" })),
    kernel: req(kernel),
    rootfs: dflt(obj({ packages: dflt(list(str()), []), include_tests: dflt(bool, false), console_shell: dflt(bool, false) }), {
      packages: [],
      include_tests: false,
      console_shell: false,
    }),
    units: dflt(
      obj({
        dirs: dflt(list(insideRepo), []),
        presets: dflt(list(str({ pattern: /^(enable|disable)\s+\S+(\s+\S+)*$/, hint: 'a preset line such as "enable *.socket"' })), []),
      }),
      { dirs: [], presets: [] },
    ),
    gadget: opt(
      custom<BoardConfig["gadget"]>(
        "a table",
        (v, w, path) => {
          if (!isTable(v)) return (w.add(path, `must be a table, not ${show(v)}`), undefined);
          const config = gadget.read(v, w, path);
          return config && { raw: v, config };
        },
        () => undefined,
      ),
    ),
    watchdog: opt(
      obj({ device: req(str({ pattern: /^\/dev\/watchdog\d*$/, hint: "a watchdog device such as /dev/watchdog0" })), sec: dflt(int(1, 3600), 30) }),
    ),
    qemu: opt(qemu),
    image: dflt(obj({ format: dflt(oneOf(["initramfs", "sdcard"] as const), "initramfs"), sdcard: opt(sdcard) }), { format: "initramfs", sdcard: undefined }),
  });
  return refine(fields, (b, w): BoardConfig => {
    const cfg: BoardConfig = {
      file,
      name: b.name,
      description: b.description,
      arch: b.arch,
      debianArch: b.arch === "x86_64" ? "amd64" : "arm64",
      hostname: b.hostname,
      kernel: b.kernel,
      rootfs: { packages: b.rootfs.packages, includeTests: b.rootfs.include_tests, consoleShell: b.rootfs.console_shell },
      units: b.units,
      ...(b.watchdog ? { watchdog: { device: b.watchdog.device, sec: b.watchdog.sec } } : {}),
      image: { format: b.image.format },
      ...(b.gadget ? { gadget: b.gadget } : {}),
      ...(b.qemu ? { qemu: b.qemu } : {}),
    };
    if (b.image.format === "sdcard") {
      if (b.image.sdcard) cfg.image.sdcard = b.image.sdcard;
      else if (!w.failed("image.sdcard")) w.add("image.sdcard", "missing (a table: size, firmware_package, config_txt)");
      if (!cfg.kernel.dtb) w.add("kernel.dtb", "an sdcard image needs the board's device tree");
    } else if (!cfg.qemu && !w.failed("qemu")) {
      w.add("qemu", "an initramfs board needs a [qemu] section to be bootable here");
    }
    return cfg;
  });
}

/** Validates a parsed TOML document; throws a DescriptionError listing every problem. */
export function validateBoardConfig(doc: unknown, file: string): BoardConfig {
  return validate(boardSchema(file), doc, { source: file, kind: BOARD_KIND });
}

/** Parses TOML text; every problem names the file, and the line where it knows it. */
export function parseBoardConfig(text: string, file: string): BoardConfig {
  return validateDescription(readDescription(text, file, BOARD_KIND), boardSchema(file));
}
