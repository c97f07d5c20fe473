/**
 * The gadget a board composes in configfs, as a readable description (the [gadget] table of a
 * board config, or a TOML/JSON file given to `bunit daemon --gadget`). Pure: validation here,
 * configfs I/O in gadget.ts.
 *
 *   name = "bunit"                      # /sys/kernel/config/usb_gadget/<name>
 *   udc = "auto"                        # or a name from /sys/class/udc
 *   vendor_id = 0x1d6b
 *   product_id = 0x0104
 *   [strings.0x409]                     # per language: manufacturer, product, serialnumber
 *   manufacturer = "bunit"
 *   [[functions]]
 *   kind = "ffs"                        # FunctionFS: mounted, filled by a ListenUSBFunction= socket
 *   instance = "loopback"
 *   mount = "/run/ffs/loopback"         # default /dev/usb-ffs/<instance>
 *   [[functions]]
 *   kind = "ncm"                        # a kernel function; attrs are written to its files
 *   instance = "usb0"
 *   attrs = { host_addr = "02:00:00:00:00:01" }
 *   [[configs]]
 *   label = "bunit"
 *   max_power = 250                     # mA
 *   functions = ["ffs.loopback", "ncm.usb0"]
 *
 * Every problem is reported with its key ("functions[1].instance: ..."), all at once.
 */
import { parseConfigText } from "../lib/config-text.ts";

export interface GadgetFunction {
  kind: string;
  instance: string;
  /** kind.instance, the configfs directory name under functions/. */
  id: string;
  /** FunctionFS only: where the instance is mounted. */
  mount?: string;
  attrs: Record<string, string>;
}

export interface GadgetConfiguration {
  label: string;
  maxPower: number;
  attributes: number;
  functions: string[];
}

export interface GadgetConfig {
  source: string;
  name: string;
  udc: string;
  device: {
    idVendor: number;
    idProduct: number;
    bcdDevice: number;
    bcdUSB: number;
    bDeviceClass: number;
    bDeviceSubClass: number;
    bDeviceProtocol: number;
    bMaxPacketSize0: number;
  };
  strings: Record<string, { manufacturer?: string; product?: string; serialnumber?: string }>;
  functions: GadgetFunction[];
  configs: GadgetConfiguration[];
  /** How long to wait for the FunctionFS functions and a UDC before binding fails. */
  bindTimeoutMs: number;
}

export class GadgetConfigError extends Error {
  constructor(
    readonly source: string,
    readonly problems: string[],
  ) {
    super(`${source}: invalid gadget configuration:\n${problems.map((p) => `  ${p}`).join("\n")}`);
    this.name = "GadgetConfigError";
  }
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);

/** Kernel functions (usb_f_*) whose instances can be created in configfs. */
export const KERNEL_FUNCTIONS = ["acm", "ecm", "eem", "ncm", "rndis", "subset", "gser", "obex", "mass_storage", "hid", "midi", "uac1", "uac2", "uvc", "printer", "loopback", "sourcesink", "tcm"];
const NAME = /^[A-Za-z0-9_-]{1,64}$/;
const LANG = /^0x[0-9a-fA-F]{1,4}$/;

export function validateGadgetConfig(doc: unknown, source: string, prefix = ""): GadgetConfig {
  const problems: string[] = [];
  const at = (k: string) => (prefix ? `${prefix}.${k}` : k);
  const bad = (k: string, m: string) => problems.push(`${at(k)}: ${m}`);
  if (!isObj(doc)) throw new GadgetConfigError(source, [`${prefix || "gadget"}: must be a table`]);
  const known = ["name", "udc", "vendor_id", "product_id", "device_version", "usb_version", "device_class", "device_subclass", "device_protocol", "max_packet_size0", "strings", "functions", "configs", "bind_timeout"];
  for (const k of Object.keys(doc)) if (!known.includes(k)) bad(k, "unknown setting");

  const str = (o: Obj, k: string, path: string, dflt?: string, re?: RegExp, hint?: string): string => {
    const v = o[k];
    if (v === undefined && dflt !== undefined) return dflt;
    if (typeof v !== "string" || v === "") {
      bad(path, v === undefined ? "missing (a string)" : `must be a non-empty string, not ${JSON.stringify(v)}`);
      return dflt ?? "";
    }
    if (re && !re.test(v)) bad(path, `"${v}" is not valid${hint ? ` (${hint})` : ""}`);
    return v;
  };
  const int = (o: Obj, k: string, path: string, dflt: number | undefined, max: number): number => {
    const v = o[k];
    if (v === undefined && dflt !== undefined) return dflt;
    if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v > max) {
      bad(path, `${v === undefined ? "missing" : `${JSON.stringify(v)} is not valid`}: an integer in 0..0x${max.toString(16)}`);
      return dflt ?? 0;
    }
    return v;
  };

  const cfg: GadgetConfig = {
    source,
    name: str(doc, "name", "name", "bunit", NAME, "letters, digits, '_', '-'"),
    udc: str(doc, "udc", "udc", "auto", /^[\w.:-]+$/, "\"auto\" or a name from /sys/class/udc"),
    device: {
      idVendor: int(doc, "vendor_id", "vendor_id", undefined, 0xffff),
      idProduct: int(doc, "product_id", "product_id", undefined, 0xffff),
      bcdDevice: int(doc, "device_version", "device_version", 0x0100, 0xffff),
      bcdUSB: int(doc, "usb_version", "usb_version", 0x0200, 0xffff),
      bDeviceClass: int(doc, "device_class", "device_class", 0, 0xff),
      bDeviceSubClass: int(doc, "device_subclass", "device_subclass", 0, 0xff),
      bDeviceProtocol: int(doc, "device_protocol", "device_protocol", 0, 0xff),
      bMaxPacketSize0: int(doc, "max_packet_size0", "max_packet_size0", 64, 512),
    },
    strings: {},
    functions: [],
    configs: [],
    bindTimeoutMs: int(doc, "bind_timeout", "bind_timeout", 30, 3600) * 1000,
  };
  if (![8, 16, 32, 64, 512].includes(cfg.device.bMaxPacketSize0)) bad("max_packet_size0", "must be 8, 16, 32, 64 or 512");

  if (doc.strings !== undefined) {
    if (!isObj(doc.strings)) bad("strings", "must be a table of languages (\"0x409\" = { manufacturer = ..., product = ..., serialnumber = ... })");
    else
      for (const [lang, t] of Object.entries(doc.strings)) {
        if (!LANG.test(lang)) bad(`strings.${lang}`, "a language is a 16-bit LANGID in hex, such as 0x409");
        if (!isObj(t)) {
          bad(`strings.${lang}`, "must be a table");
          continue;
        }
        const e: GadgetConfig["strings"][string] = {};
        for (const [k, v] of Object.entries(t)) {
          if (k !== "manufacturer" && k !== "product" && k !== "serialnumber") bad(`strings.${lang}.${k}`, "unknown string (manufacturer, product, serialnumber)");
          else if (typeof v !== "string" || v.length > 126 || v.includes("\n")) bad(`strings.${lang}.${k}`, "must be a one-line string of at most 126 characters");
          else e[k] = v;
        }
        cfg.strings[`0x${lang.slice(2).toLowerCase().padStart(4, "0")}`] = e;
      }
  }

  const fns = doc.functions;
  if (!Array.isArray(fns) || fns.length === 0) bad("functions", "must list at least one function ([[functions]] with kind and instance)");
  else
    fns.forEach((f, i) => {
      const p = `functions[${i}]`;
      if (!isObj(f)) return bad(p, "must be a table");
      for (const k of Object.keys(f)) if (!["kind", "instance", "mount", "attrs"].includes(k)) bad(`${p}.${k}`, "unknown setting");
      const kind = str(f, "kind", `${p}.kind`);
      if (kind && kind !== "ffs" && !KERNEL_FUNCTIONS.includes(kind)) bad(`${p}.kind`, `"${kind}" is not a gadget function (ffs, ${KERNEL_FUNCTIONS.join(", ")})`);
      const instance = str(f, "instance", `${p}.instance`, undefined, NAME, "letters, digits, '_', '-'");
      const fn: GadgetFunction = { kind, instance, id: `${kind}.${instance}`, attrs: {} };
      if (kind === "ffs") {
        fn.mount = str(f, "mount", `${p}.mount`, `/dev/usb-ffs/${instance}`);
        if (!fn.mount.startsWith("/") || fn.mount.split("/").includes("..")) bad(`${p}.mount`, "must be an absolute path without ..");
        if (f.attrs !== undefined) bad(`${p}.attrs`, "FunctionFS functions take no attributes; their descriptors come from the service");
      } else {
        if (f.mount !== undefined) bad(`${p}.mount`, "only FunctionFS (kind = \"ffs\") functions are mounted");
        if (f.attrs !== undefined) {
          if (!isObj(f.attrs)) bad(`${p}.attrs`, "must be a table of attribute = value");
          else
            for (const [k, v] of Object.entries(f.attrs)) {
              if (!/^[a-z_][a-z0-9_.]*$/.test(k)) bad(`${p}.attrs.${k}`, "not an attribute name");
              else if (typeof v !== "string" && typeof v !== "number" && typeof v !== "boolean") bad(`${p}.attrs.${k}`, "must be a string, number or boolean");
              else fn.attrs[k] = typeof v === "boolean" ? (v ? "1" : "0") : String(v);
            }
        }
      }
      if (cfg.functions.some((g) => g.id === fn.id)) bad(`${p}`, `${fn.id} is listed twice`);
      if (fn.mount && cfg.functions.some((g) => g.mount === fn.mount)) bad(`${p}.mount`, `${fn.mount} is used by another function`);
      cfg.functions.push(fn);
    });

  const confs = doc.configs ?? [{}];
  if (!Array.isArray(confs) || confs.length === 0) bad("configs", "must list at least one configuration ([[configs]])");
  else
    confs.forEach((c, i) => {
      const p = `configs[${i}]`;
      if (!isObj(c)) return bad(p, "must be a table");
      for (const k of Object.keys(c)) if (!["label", "max_power", "attributes", "functions"].includes(k)) bad(`${p}.${k}`, "unknown setting");
      const conf: GadgetConfiguration = {
        label: str(c, "label", `${p}.label`, cfg.name),
        maxPower: int(c, "max_power", `${p}.max_power`, 250, 900),
        attributes: int(c, "attributes", `${p}.attributes`, 0x80, 0xff),
        functions: [],
      };
      if ((conf.attributes & 0x80) === 0 || (conf.attributes & 0x1f) !== 0) bad(`${p}.attributes`, "bit 7 must be set and bits 0..4 clear (0x80, 0xc0 self-powered, 0xa0 remote wakeup)");
      if (c.functions === undefined) conf.functions = cfg.functions.map((f) => f.id);
      else if (!Array.isArray(c.functions) || c.functions.length === 0) bad(`${p}.functions`, "must list at least one function (kind.instance)");
      else
        c.functions.forEach((id, j) => {
          if (typeof id !== "string" || !cfg.functions.some((f) => f.id === id)) bad(`${p}.functions[${j}]`, `${JSON.stringify(id)} is not one of the functions (${cfg.functions.map((f) => f.id).join(", ")})`);
          else if (conf.functions.includes(id)) bad(`${p}.functions[${j}]`, `${id} is listed twice`);
          else conf.functions.push(id);
        });
      cfg.configs.push(conf);
    });

  if (problems.length) throw new GadgetConfigError(source, problems);
  return cfg;
}

/** Reads a gadget description file (.toml or .json, or a board config with a [gadget] table). */
export function parseGadgetFile(text: string, file: string): GadgetConfig {
  let doc: unknown;
  try {
    doc = parseConfigText(text, file);
  } catch (e) {
    throw new GadgetConfigError(file, [(e as Error).message]);
  }
  // A board configuration: its [gadget] table.
  if (isObj(doc) && isObj(doc.gadget) && "kernel" in doc) return validateGadgetConfig(doc.gadget, file, "gadget");
  return validateGadgetConfig(doc, file);
}
