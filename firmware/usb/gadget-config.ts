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
import { readDescription, validateDescription } from "../lib/config-text.ts";
import {
  anything,
  custom,
  dflt,
  int,
  isTable,
  list,
  obj,
  oneOf,
  opt,
  record,
  refine,
  req,
  show,
  str,
  validate,
  type Schema,
} from "../lib/description-schema.ts";

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

/** What the error message calls these files. */
export const GADGET_KIND = "gadget configuration";

/** Kernel functions (usb_f_*) whose instances can be created in configfs. */
export const KERNEL_FUNCTIONS = [
  "acm",
  "ecm",
  "eem",
  "ncm",
  "rndis",
  "subset",
  "gser",
  "obex",
  "mass_storage",
  "hid",
  "midi",
  "uac1",
  "uac2",
  "uvc",
  "printer",
  "loopback",
  "sourcesink",
  "tcm",
];
const NAME = /^[A-Za-z0-9_-]{1,64}$/;
const LANG = /^0x[0-9a-fA-F]{1,4}$/;

const name = str({ pattern: NAME, hint: "letters, digits, '_', '-'" });
const hex16 = int(0, 0xffff, { hex: true });
const hex8 = int(0, 0xff, { hex: true });
const packetSize0 = refine(int(0, 512), (n, w, path) => ([8, 16, 32, 64, 512].includes(n) ? n : (w.add(path, "must be 8, 16, 32, 64 or 512"), undefined)));
const oneLine = refine(str({ empty: true }), (s, w, path) =>
  s.length <= 126 && !s.includes("\n") ? s : (w.add(path, "must be a one-line string of at most 126 characters"), undefined),
);
const stringTable = refine(obj({ manufacturer: opt(oneLine), product: opt(oneLine), serialnumber: opt(oneLine) }), (t) => {
  const out: GadgetConfig["strings"][string] = {};
  for (const k of ["manufacturer", "product", "serialnumber"] as const) if (t[k] !== undefined) out[k] = t[k];
  return out;
});
const attrValue = custom(
  "a string, number or boolean",
  (v, w, path) => {
    if (typeof v === "boolean") return v ? "1" : "0";
    if (typeof v === "string" || typeof v === "number") return String(v);
    return (w.add(path, `must be a string, number or boolean, not ${show(v)}`), undefined);
  },
  () => "",
);

interface Placed<T> {
  at: string;
  v: T;
}

const gadgetFunction = refine(
  obj({
    kind: req(oneOf(["ffs", ...KERNEL_FUNCTIONS], { what: `a gadget function (ffs, ${KERNEL_FUNCTIONS.join(", ")})` })),
    instance: req(name),
    mount: opt(str()),
    attrs: opt(record(attrValue, { pattern: /^[a-z_][a-z0-9_.]*$/, message: "not an attribute name" })),
  }),
  (f, w, at): Placed<GadgetFunction> => {
    const fn: GadgetFunction = { kind: f.kind, instance: f.instance, id: `${f.kind}.${f.instance}`, attrs: {} };
    if (w.failed(`${at}.kind`)) return { at, v: fn };
    if (f.kind === "ffs") {
      fn.mount = f.mount ?? `/dev/usb-ffs/${f.instance}`;
      if (!fn.mount.startsWith("/") || fn.mount.split("/").includes("..")) w.add(`${at}.mount`, "must be an absolute path without ..");
      if (f.attrs !== undefined) w.add(`${at}.attrs`, "FunctionFS functions take no attributes; their descriptors come from the service");
    } else {
      if (f.mount !== undefined) w.add(`${at}.mount`, 'only FunctionFS (kind = "ffs") functions are mounted');
      fn.attrs = f.attrs ?? {};
    }
    return { at, v: fn };
  },
);

const configuration = refine(
  obj({
    label: opt(str()),
    max_power: dflt(int(0, 900), 250),
    attributes: dflt(hex8, 0x80),
    functions: opt(list(anything, { nonEmpty: "must list at least one function (kind.instance)" })),
  }),
  (c, w, at) => {
    if ((c.attributes & 0x80) === 0 || (c.attributes & 0x1f) !== 0)
      w.add(`${at}.attributes`, "bit 7 must be set and bits 0..4 clear (0x80, 0xc0 self-powered, 0xa0 remote wakeup)");
    return { at, v: c };
  },
);

const FUNCTIONS_NEEDED = "must list at least one function ([[functions]] with kind and instance)";

/** The gadget description's schema; `source` is kept in the result. */
export function gadgetSchema(source: string): Schema<GadgetConfig> {
  const fields = obj({
    name: dflt(name, "bunit"),
    udc: dflt(str({ pattern: /^[\w.:-]+$/, hint: '"auto" or a name from /sys/class/udc' }), "auto"),
    vendor_id: req(hex16),
    product_id: req(hex16),
    device_version: dflt(hex16, 0x0100),
    usb_version: dflt(hex16, 0x0200),
    device_class: dflt(hex8, 0),
    device_subclass: dflt(hex8, 0),
    device_protocol: dflt(hex8, 0),
    max_packet_size0: dflt(packetSize0, 64),
    strings: dflt(record(stringTable, { pattern: LANG, message: "a language is a 16-bit LANGID in hex, such as 0x409" }), {}),
    functions: req(list(gadgetFunction, { nonEmpty: FUNCTIONS_NEEDED }), FUNCTIONS_NEEDED),
    configs: opt(list(configuration, { nonEmpty: "must list at least one configuration ([[configs]])" })),
    bind_timeout: dflt(int(0, 3600), 30),
  });
  return refine(fields, (g, w, at) => {
    const cfg: GadgetConfig = {
      source,
      name: g.name,
      udc: g.udc,
      device: {
        idVendor: g.vendor_id,
        idProduct: g.product_id,
        bcdDevice: g.device_version,
        bcdUSB: g.usb_version,
        bDeviceClass: g.device_class,
        bDeviceSubClass: g.device_subclass,
        bDeviceProtocol: g.device_protocol,
        bMaxPacketSize0: g.max_packet_size0,
      },
      strings: {},
      functions: [],
      configs: [],
      bindTimeoutMs: g.bind_timeout * 1000,
    };
    for (const [lang, e] of Object.entries(g.strings)) cfg.strings[`0x${lang.slice(2).toLowerCase().padStart(4, "0")}`] = e;
    for (const { at: p, v: fn } of g.functions) {
      if (cfg.functions.some((f) => f.id === fn.id)) w.add(p, `${fn.id} is listed twice`);
      if (fn.mount && cfg.functions.some((f) => f.mount === fn.mount)) w.add(`${p}.mount`, `${fn.mount} is used by another function`);
      cfg.functions.push(fn);
    }
    const ids = cfg.functions.map((f) => f.id);
    // Without [[configs]], one configuration carries every function.
    const confs = g.configs ?? (g.functions.length ? [configuration.read({}, w, `${at ? `${at}.` : ""}configs[0]`)!] : []);
    for (const { at: p, v: c } of confs) {
      const functions: string[] = [];
      (c.functions ?? ids).forEach((id, j) => {
        if (typeof id !== "string" || !ids.includes(id)) w.add(`${p}.functions[${j}]`, `${show(id)} is not one of the functions (${ids.join(", ")})`);
        else if (functions.includes(id)) w.add(`${p}.functions[${j}]`, `${id} is listed twice`);
        else functions.push(id);
      });
      cfg.configs.push({ label: c.label ?? cfg.name, maxPower: c.max_power, attributes: c.attributes, functions });
    }
    return cfg;
  });
}
/** Validates a parsed description; `prefix` is its key in a larger file ("gadget" in a board config). */
export function validateGadgetConfig(doc: unknown, source: string, prefix = ""): GadgetConfig {
  return validate(gadgetSchema(source), doc, { source, kind: GADGET_KIND, at: prefix });
}

/** Reads a gadget description file (.toml or .json, or a board config with a [gadget] table). */
export function parseGadgetFile(text: string, file: string): GadgetConfig {
  const d = readDescription(text, file, GADGET_KIND);
  // A board configuration: its [gadget] table.
  if (isTable(d.doc) && isTable(d.doc.gadget) && "kernel" in d.doc) return validateDescription(d, gadgetSchema(file), { path: "gadget", value: d.doc.gadget });
  return validateDescription(d, gadgetSchema(file));
}
