/**
 * A readable description of a FunctionFS function (TOML or JSON) and its validation. The
 * compiler (ffs-blobs.ts) turns a validated spec into the descriptor and string blobs the
 * kernel reads from ep0. Every problem is reported with its place in the spec
 * ("interfaces[0].endpoints[1].max_packet.high: ..."). Pure.
 *
 * Example (TOML):
 *   [function]
 *   all_ctrl_recip = true
 *   [[interfaces]]
 *   class = "vendor"
 *   name = "bunit loopback"
 *   [[interfaces.endpoints]]
 *   number = 1
 *   direction = "out"
 *   type = "bulk"
 *   [[interfaces.endpoints]]
 *   number = 1
 *   direction = "in"
 *   type = "bulk"
 */
import { parseConfigText } from "../lib/config-text.ts";

export type Speed = "full" | "high" | "super";
export const SPEEDS: readonly Speed[] = ["full", "high", "super"];
export type EndpointType = "bulk" | "interrupt" | "isochronous";

export interface EndpointSpec {
  number: number;
  direction: "in" | "out";
  type: EndpointType;
  maxPacket: Record<Speed, number>;
  /** bInterval per speed (raw descriptor value). */
  interval: Record<Speed, number>;
  /** Isochronous: "none" | "async" | "adaptive" | "sync"; usage "data" | "feedback" | "implicit". */
  sync: number;
  usage: number;
  /** High-speed high-bandwidth transactions per microframe minus one (0..2). */
  mult: number;
  /** SuperSpeed companion. */
  burst: number;
  maxStreams: number;
  bytesPerInterval: number;
  /** Audio endpoints have 9-byte descriptors (bRefresh, bSynchAddress). */
  audio?: { refresh: number; synchAddress: number };
}

export interface ClassDescriptorSpec {
  type: number;
  data: Uint8Array;
}

export interface InterfaceSpec {
  number: number;
  alternate: number;
  class: number;
  subclass: number;
  protocol: number;
  name?: string;
  classDescriptors: ClassDescriptorSpec[];
  endpoints: EndpointSpec[];
}

export interface AssociationSpec {
  firstInterface: number;
  count: number;
  class: number;
  subclass: number;
  protocol: number;
  name?: string;
}

export interface ExtPropertySpec {
  name: string;
  /** Registry type: 1 sz, 2 expand-sz, 3 binary, 4 dword-le, 5 dword-be, 6 link, 7 multi-sz. */
  type: number;
  data: Uint8Array;
}

export interface MsOsSpec {
  interface: number;
  compatibleId: string;
  subCompatibleId: string;
  properties: ExtPropertySpec[];
}

export interface FunctionSpec {
  speeds: Speed[];
  flags: { virtualAddr: boolean; allCtrlRecip: boolean; config0Setup: boolean };
  associations: AssociationSpec[];
  interfaces: InterfaceSpec[];
  /** Language ids; strings[lang] lists the strings in index order (index 1 first). */
  languages: number[];
  /** Translations: language -> original (first language) string -> translated string. */
  translations: Record<number, Record<string, string>>;
  msOs: MsOsSpec[];
}

export class SpecError extends Error {
  constructor(
    readonly source: string,
    readonly problems: string[],
  ) {
    super(`${source}: invalid USB function description:\n${problems.map((p) => `  ${p}`).join("\n")}`);
    this.name = "SpecError";
  }
}

export const INTERFACE_CLASSES: Record<string, number> = {
  "per-interface": 0x00, audio: 0x01, comm: 0x02, cdc: 0x02, hid: 0x03, physical: 0x05, image: 0x06, "still-image": 0x06,
  printer: 0x07, "mass-storage": 0x08, hub: 0x09, "cdc-data": 0x0a, "smart-card": 0x0b, ccid: 0x0b,
  "content-security": 0x0d, video: 0x0e, "personal-healthcare": 0x0f, "audio-video": 0x10, billboard: 0x11,
  "type-c-bridge": 0x12, diagnostic: 0xdc, wireless: 0xe0, misc: 0xef, application: 0xfe, vendor: 0xff,
  "vendor-specific": 0xff,
};

const LANGUAGES: Record<string, number> = {
  "en-US": 0x0409, "en-GB": 0x0809, "de-DE": 0x0407, "fr-FR": 0x040c, "es-ES": 0x0c0a, "it-IT": 0x0410,
  "ja-JP": 0x0411, "zh-CN": 0x0804, "zh-TW": 0x0404, "ko-KR": 0x0412, "pt-BR": 0x0416, "ru-RU": 0x0419,
  "nl-NL": 0x0413, "sv-SE": 0x041d, "pl-PL": 0x0415,
};

export const EXT_PROP_TYPES: Record<string, number> = { sz: 1, "expand-sz": 2, binary: 3, "dword-le": 4, "dword-be": 5, link: 6, "multi-sz": 7 };

const DEFAULT_MAX_PACKET: Record<EndpointType, Record<Speed, number>> = {
  bulk: { full: 64, high: 512, super: 1024 },
  interrupt: { full: 64, high: 64, super: 64 },
  isochronous: { full: 1023, high: 1024, super: 1024 },
};
const DEFAULT_INTERVAL: Record<EndpointType, Record<Speed, number>> = {
  bulk: { full: 0, high: 0, super: 0 },
  interrupt: { full: 10, high: 4, super: 4 },
  isochronous: { full: 1, high: 1, super: 1 },
};

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array);

class Problems {
  list: string[] = [];
  add(path: string, msg: string): void {
    this.list.push(`${path}: ${msg}`);
  }
}

function num(p: Problems, path: string, v: unknown, min: number, max: number, dflt?: number): number {
  if (v === undefined && dflt !== undefined) return dflt;
  let n: number | undefined;
  if (typeof v === "number") n = v;
  else if (typeof v === "string" && /^(0x[0-9a-fA-F]+|\d+)$/.test(v)) n = Number(v);
  if (n === undefined || !Number.isInteger(n)) {
    p.add(path, v === undefined ? "missing (a number)" : `must be an integer, not ${JSON.stringify(v)}`);
    return dflt ?? min;
  }
  if (n < min || n > max) p.add(path, `${n} is out of range (${min}..${max})`);
  return n;
}

function bool(p: Problems, path: string, v: unknown, dflt: boolean): boolean {
  if (v === undefined) return dflt;
  if (typeof v !== "boolean") p.add(path, "must be true or false");
  return v === true;
}

function classNumber(p: Problems, path: string, v: unknown, dflt: number): number {
  if (v === undefined) return dflt;
  if (typeof v === "string" && INTERFACE_CLASSES[v] !== undefined) return INTERFACE_CLASSES[v]!;
  if (typeof v === "string" && !/^(0x[0-9a-fA-F]+|\d+)$/.test(v)) {
    p.add(path, `unknown class "${v}" (use a number or one of ${Object.keys(INTERFACE_CLASSES).join(", ")})`);
    return dflt;
  }
  return num(p, path, v, 0, 255);
}

/** Hex bytes "09 21 11 01" or "0x09,0x21" or a list of numbers. */
export function parseBytes(p: Problems, path: string, v: unknown): Uint8Array {
  if (v instanceof Uint8Array) return v;
  if (Array.isArray(v)) {
    const out = new Uint8Array(v.length);
    v.forEach((b, i) => (out[i] = num(p, `${path}[${i}]`, b, 0, 255)));
    return out;
  }
  if (typeof v === "string") {
    const parts = v.replace(/0x/gi, "").split(/[\s,:]+/).filter(Boolean);
    if (parts.every((x) => /^[0-9a-fA-F]{1,2}$/.test(x))) return new Uint8Array(parts.map((x) => parseInt(x, 16)));
    if (/^[0-9a-fA-F]+$/.test(v) && v.length % 2 === 0) return new Uint8Array(v.match(/../g)!.map((x) => parseInt(x, 16)));
  }
  p.add(path, "must be bytes: hex such as \"09 21 11 01\", or a list of numbers");
  return new Uint8Array(0);
}

function language(p: Problems, path: string, v: unknown): number {
  if (typeof v === "string" && LANGUAGES[v] !== undefined) return LANGUAGES[v]!;
  return num(p, path, v, 1, 0xffff);
}

function usbStringOk(s: string): boolean {
  // A string descriptor holds at most 126 UTF-16 code units.
  let units = 0;
  for (const c of s) units += c.codePointAt(0)! > 0xffff ? 2 : 1;
  return units <= 126 && !s.includes("\0");
}

function perSpeed(p: Problems, path: string, v: unknown, dflt: Record<Speed, number>, min: number, max: number): Record<Speed, number> {
  if (v === undefined) return { ...dflt };
  if (typeof v === "number" || typeof v === "string") {
    const n = num(p, path, v, min, max);
    return { full: n, high: n, super: n };
  }
  if (!isObj(v)) {
    p.add(path, "must be a number or a table of full/high/super");
    return { ...dflt };
  }
  for (const k of Object.keys(v)) if (!SPEEDS.includes(k as Speed)) p.add(`${path}.${k}`, "unknown speed (full, high, super)");
  return {
    full: v.full === undefined ? dflt.full : num(p, `${path}.full`, v.full, min, max),
    high: v.high === undefined ? dflt.high : num(p, `${path}.high`, v.high, min, max),
    super: v.super === undefined ? dflt.super : num(p, `${path}.super`, v.super, min, max),
  };
}

/** A key as it appears in a path: quoted when it is not a plain name (spaces, control characters). */
const keyText = (k: string) => (/^[\w-]+$/.test(k) ? k : JSON.stringify(k));

function unknown(p: Problems, path: string, o: Obj, allowed: string[]): void {
  for (const k of Object.keys(o)) if (!allowed.includes(k)) p.add(path ? `${path}.${keyText(k)}` : keyText(k), "unknown setting");
}

function endpoint(p: Problems, path: string, v: unknown, speeds: Speed[]): EndpointSpec | null {
  if (!isObj(v)) {
    p.add(path, "must be a table");
    return null;
  }
  unknown(p, path, v, ["number", "address", "direction", "type", "max_packet", "interval", "sync", "usage", "mult", "burst", "max_streams", "bytes_per_interval", "audio"]);
  let number: number;
  let direction: "in" | "out";
  if (v.address !== undefined) {
    const a = num(p, `${path}.address`, v.address, 0, 255);
    number = a & 0x0f;
    direction = a & 0x80 ? "in" : "out";
    if (a & 0x70) p.add(`${path}.address`, "bits 4..6 must be zero");
    if (v.direction !== undefined && v.direction !== direction) p.add(`${path}.direction`, `contradicts address 0x${a.toString(16)}`);
  } else {
    number = num(p, `${path}.number`, v.number, 1, 15);
    if (v.direction !== "in" && v.direction !== "out") p.add(`${path}.direction`, v.direction === undefined ? `missing ("in" or "out")` : `must be "in" or "out", not ${JSON.stringify(v.direction)}`);
    direction = v.direction === "in" ? "in" : "out";
  }
  if (number === 0) p.add(path, "endpoint 0 is the control endpoint; use 1..15");
  const type = v.type as EndpointType;
  if (!["bulk", "interrupt", "isochronous"].includes(type)) {
    p.add(`${path}.type`, `${v.type === undefined ? "missing: it must be" : "must be"} "bulk", "interrupt" or "isochronous"${v.type === undefined ? "" : `, not ${JSON.stringify(v.type)}`}${v.type === "control" ? " (control endpoints other than ep0 are not supported by FunctionFS)" : ""}`);
    return null;
  }
  const maxPacket = perSpeed(p, `${path}.max_packet`, v.max_packet, DEFAULT_MAX_PACKET[type], 1, 1024);
  const interval = perSpeed(p, `${path}.interval`, v.interval, DEFAULT_INTERVAL[type], 0, 255);
  const mp = `${path}.max_packet`;
  // USB 2.0 9.6.6 / USB 3.2 9.6.6 limits.
  if (speeds.includes("full")) {
    if (type === "bulk" && ![8, 16, 32, 64].includes(maxPacket.full)) p.add(`${mp}.full`, `full-speed bulk endpoints use 8, 16, 32 or 64 bytes, not ${maxPacket.full}`);
    if (type === "interrupt" && maxPacket.full > 64) p.add(`${mp}.full`, "full-speed interrupt endpoints use at most 64 bytes");
    if (type === "isochronous" && maxPacket.full > 1023) p.add(`${mp}.full`, "full-speed isochronous endpoints use at most 1023 bytes");
  }
  if (speeds.includes("high") && type === "bulk" && maxPacket.high !== 512) p.add(`${mp}.high`, `high-speed bulk endpoints use 512 bytes, not ${maxPacket.high}`);
  if (speeds.includes("super") && type === "bulk" && maxPacket.super !== 1024) p.add(`${mp}.super`, `SuperSpeed bulk endpoints use 1024 bytes, not ${maxPacket.super}`);
  const iv = `${path}.interval`;
  if (type === "interrupt") {
    if (speeds.includes("full") && (interval.full < 1 || interval.full > 255)) p.add(`${iv}.full`, "full-speed interrupt intervals are 1..255 ms");
    if (speeds.includes("high") && (interval.high < 1 || interval.high > 16)) p.add(`${iv}.high`, "high-speed interrupt intervals are 1..16 (2^(n-1) microframes)");
    if (speeds.includes("super") && (interval.super < 1 || interval.super > 16)) p.add(`${iv}.super`, "SuperSpeed interrupt intervals are 1..16");
  }
  if (type === "isochronous") {
    for (const s of speeds) if (interval[s] < 1 || interval[s] > 16) p.add(`${iv}.${s}`, "isochronous intervals are 1..16");
  }
  const syncNames: Record<string, number> = { none: 0, async: 1, adaptive: 2, sync: 3 };
  const usageNames: Record<string, number> = { data: 0, feedback: 1, implicit: 2 };
  const sync = v.sync === undefined ? 0 : typeof v.sync === "string" && syncNames[v.sync] !== undefined ? syncNames[v.sync]! : (p.add(`${path}.sync`, "must be none, async, adaptive or sync"), 0);
  const usage = v.usage === undefined ? 0 : typeof v.usage === "string" && usageNames[v.usage] !== undefined ? usageNames[v.usage]! : (p.add(`${path}.usage`, "must be data, feedback or implicit"), 0);
  if ((v.sync !== undefined || v.usage !== undefined) && type !== "isochronous") p.add(path, "sync and usage apply to isochronous endpoints only");
  const mult = num(p, `${path}.mult`, v.mult, 0, 2, 0);
  if (mult && type === "bulk") p.add(`${path}.mult`, "bulk endpoints have no high-bandwidth mult");
  const audio = v.audio === undefined ? undefined : isObj(v.audio) ? { refresh: num(p, `${path}.audio.refresh`, v.audio.refresh, 0, 255, 0), synchAddress: num(p, `${path}.audio.synch_address`, v.audio.synch_address, 0, 255, 0) } : (p.add(`${path}.audio`, "must be a table"), undefined);
  return {
    number, direction, type, maxPacket, interval, sync, usage, mult,
    burst: num(p, `${path}.burst`, v.burst, 0, 15, 0),
    maxStreams: num(p, `${path}.max_streams`, v.max_streams, 0, 16, 0),
    bytesPerInterval: num(p, `${path}.bytes_per_interval`, v.bytes_per_interval, 0, 0xffff, type === "bulk" ? 0 : maxPacket.super),
    ...(audio ? { audio } : {}),
  };
}

/** What f_fs (Linux 6.1) accepts after an interface descriptor; anything else is refused. */
function checkClassDescriptor(p: Problems, path: string, cls: number, d: ClassDescriptorSpec): void {
  const length = d.data.length + 2;
  if (length > 255) p.add(path, "a descriptor is at most 255 bytes");
  if (d.type === 0x21 && cls === 0x03) {
    if (length !== 9) p.add(path, `a HID descriptor is 9 bytes long (the kernel checks), this one is ${length}`);
    return;
  }
  if (d.type === 0x21 && cls === 0x0b) {
    if (length !== 54) p.add(path, `a CCID functional descriptor is 54 bytes long, this one is ${length}`);
    return;
  }
  if (d.type === 0x09 || d.type === 0x0b) {
    if (d.type === 0x0b && length !== 8) p.add(path, "an interface association descriptor is 8 bytes long");
    return;
  }
  p.add(path, `descriptor type 0x${d.type.toString(16)} after a class 0x${cls.toString(16)} interface: FunctionFS (Linux 6.1) accepts only HID (0x21 in class 3) and CCID (0x21 in class 0x0b) class descriptors here`);
}

function hidDescriptor(p: Problems, path: string, v: unknown): ClassDescriptorSpec | null {
  if (!isObj(v)) {
    p.add(path, "must be a table");
    return null;
  }
  unknown(p, path, v, ["version", "country", "report_length"]);
  const version = typeof v.version === "string" && /^\d+\.\d{2}$/.test(v.version) ? v.version : v.version === undefined ? "1.11" : (p.add(`${path}.version`, 'must look like "1.11"'), "1.11");
  const [maj, min] = version.split(".").map(Number) as [number, number];
  const bcd = (maj << 8) | (Math.floor(min / 10) << 4) | (min % 10);
  const rl = num(p, `${path}.report_length`, v.report_length, 1, 0xffff);
  return { type: 0x21, data: new Uint8Array([bcd & 0xff, bcd >> 8, num(p, `${path}.country`, v.country, 0, 255, 0), 1, 0x22, rl & 0xff, rl >> 8]) };
}

function extProperty(p: Problems, path: string, v: unknown): ExtPropertySpec | null {
  if (!isObj(v)) {
    p.add(path, "must be a table");
    return null;
  }
  unknown(p, path, v, ["name", "type", "value"]);
  if (typeof v.name !== "string" || !v.name) {
    p.add(`${path}.name`, "missing (a property name)");
    return null;
  }
  const type = typeof v.type === "string" ? EXT_PROP_TYPES[v.type] : undefined;
  if (type === undefined) {
    p.add(`${path}.type`, `must be one of ${Object.keys(EXT_PROP_TYPES).join(", ")}`);
    return null;
  }
  const utf16z = (s: string) => {
    const b = Buffer.from(s + "\0", "utf16le");
    return new Uint8Array(b.buffer, b.byteOffset, b.length);
  };
  let data: Uint8Array;
  if (type === 1 || type === 2 || type === 6) {
    if (typeof v.value !== "string") p.add(`${path}.value`, "must be a string");
    data = utf16z(String(v.value ?? ""));
  } else if (type === 7) {
    if (!Array.isArray(v.value) || v.value.some((x) => typeof x !== "string")) p.add(`${path}.value`, "must be a list of strings");
    const parts = (Array.isArray(v.value) ? v.value : []).map((x) => utf16z(String(x)));
    const total = parts.reduce((n, b) => n + b.length, 0) + 2;
    data = new Uint8Array(total);
    let o = 0;
    for (const b of parts) {
      data.set(b, o);
      o += b.length;
    }
  } else if (type === 4 || type === 5) {
    const n = num(p, `${path}.value`, v.value, 0, 0xffffffff);
    data = new Uint8Array(4);
    new DataView(data.buffer).setUint32(0, n, type === 4);
  } else {
    data = parseBytes(p, `${path}.value`, v.value);
  }
  return { name: v.name, type, data };
}

/** Validates a parsed (TOML or JSON) document; throws SpecError listing every problem. */
export function validateFunctionSpec(doc: unknown, source: string): FunctionSpec {
  const p = new Problems();
  if (!isObj(doc)) throw new SpecError(source, ["the description must be a table/object"]);
  unknown(p, "", doc, ["function", "interfaces", "associations", "strings", "ms_os"]);
  const fn = isObj(doc.function) ? doc.function : {};
  if (doc.function !== undefined && !isObj(doc.function)) p.add("function", "must be a table");
  unknown(p, "function", fn, ["speeds", "virtual_addr", "all_ctrl_recip", "config0_setup"]);
  let speeds: Speed[] = [...SPEEDS];
  if (fn.speeds !== undefined) {
    if (!Array.isArray(fn.speeds) || fn.speeds.length === 0 || fn.speeds.some((s) => !SPEEDS.includes(s as Speed))) p.add("function.speeds", "must be a non-empty list of full, high, super");
    else speeds = SPEEDS.filter((s) => (fn.speeds as string[]).includes(s));
  }
  const flags = {
    virtualAddr: bool(p, "function.virtual_addr", fn.virtual_addr, false),
    allCtrlRecip: bool(p, "function.all_ctrl_recip", fn.all_ctrl_recip, false),
    config0Setup: bool(p, "function.config0_setup", fn.config0_setup, false),
  };
  const interfaces: InterfaceSpec[] = [];
  if (!Array.isArray(doc.interfaces) || doc.interfaces.length === 0) p.add("interfaces", "at least one interface is needed");
  (Array.isArray(doc.interfaces) ? doc.interfaces : []).forEach((raw, i) => {
    const path = `interfaces[${i}]`;
    if (!isObj(raw)) return p.add(path, "must be a table");
    unknown(p, path, raw, ["number", "alternate", "class", "subclass", "protocol", "name", "endpoints", "class_descriptors", "hid"]);
    const cls = classNumber(p, `${path}.class`, raw.class, 0xff);
    const itf: InterfaceSpec = {
      number: num(p, `${path}.number`, raw.number, 0, 255, interfaces.filter((x) => x.alternate === 0).length),
      alternate: num(p, `${path}.alternate`, raw.alternate, 0, 255, 0),
      class: cls,
      subclass: num(p, `${path}.subclass`, raw.subclass, 0, 255, 0),
      protocol: num(p, `${path}.protocol`, raw.protocol, 0, 255, 0),
      classDescriptors: [],
      endpoints: [],
    };
    if (raw.alternate !== undefined && raw.number === undefined) itf.number = Math.max(0, interfaces.length ? interfaces[interfaces.length - 1]!.number : 0);
    if (raw.name !== undefined) {
      if (typeof raw.name !== "string" || !raw.name) p.add(`${path}.name`, "must be a non-empty string");
      else if (!usbStringOk(raw.name)) p.add(`${path}.name`, "a USB string holds at most 126 UTF-16 units and no NUL");
      else itf.name = raw.name;
    }
    if (raw.hid !== undefined) {
      if (cls !== 0x03) p.add(`${path}.hid`, "only for class hid (3) interfaces");
      const h = hidDescriptor(p, `${path}.hid`, raw.hid);
      if (h) itf.classDescriptors.push(h);
    }
    (Array.isArray(raw.class_descriptors) ? raw.class_descriptors : raw.class_descriptors === undefined ? [] : (p.add(`${path}.class_descriptors`, "must be a list"), [])).forEach((cd, j) => {
      const cp = `${path}.class_descriptors[${j}]`;
      if (!isObj(cd)) return p.add(cp, "must be a table");
      unknown(p, cp, cd, ["type", "data"]);
      const d = { type: num(p, `${cp}.type`, cd.type, 0, 255), data: parseBytes(p, `${cp}.data`, cd.data) };
      checkClassDescriptor(p, cp, cls, d);
      itf.classDescriptors.push(d);
    });
    (Array.isArray(raw.endpoints) ? raw.endpoints : raw.endpoints === undefined ? [] : (p.add(`${path}.endpoints`, "must be a list"), [])).forEach((e, j) => {
      const ep = endpoint(p, `${path}.endpoints[${j}]`, e, speeds);
      if (ep) itf.endpoints.push(ep);
    });
    interfaces.push(itf);
  });
  // Interface numbers: 0..n-1 in order; alternates of one number are consecutive and unique.
  const numbers = [...new Set(interfaces.map((i) => i.number))];
  numbers.forEach((n, k) => {
    if (n !== k) p.add("interfaces", `interface numbers must be 0, 1, ... in order; found ${n} where ${k} was expected`);
  });
  const seen = new Set<string>();
  interfaces.forEach((itf, i) => {
    const key = `${itf.number}/${itf.alternate}`;
    if (seen.has(key)) p.add(`interfaces[${i}]`, `interface ${itf.number} alternate ${itf.alternate} is defined twice`);
    seen.add(key);
  });
  const addrs = new Map<number, string>();
  interfaces.forEach((itf, i) =>
    itf.endpoints.forEach((e, j) => {
      const a = e.number | (e.direction === "in" ? 0x80 : 0);
      const where = `interfaces[${i}].endpoints[${j}]`;
      const prev = addrs.get(a);
      if (prev && itf.alternate === 0) p.add(where, `endpoint 0x${a.toString(16)} is already used by ${prev}`);
      else if (!prev) addrs.set(a, where);
    }),
  );
  const epCount = interfaces.reduce((n, i) => n + i.endpoints.length, 0);
  if (epCount > 30) p.add("interfaces", `FunctionFS supports at most 30 endpoints, this function has ${epCount}`);

  const associations: AssociationSpec[] = [];
  (Array.isArray(doc.associations) ? doc.associations : doc.associations === undefined ? [] : (p.add("associations", "must be a list"), [])).forEach((a, i) => {
    const path = `associations[${i}]`;
    if (!isObj(a)) return p.add(path, "must be a table");
    unknown(p, path, a, ["first_interface", "count", "class", "subclass", "protocol", "name"]);
    const as: AssociationSpec = {
      firstInterface: num(p, `${path}.first_interface`, a.first_interface, 0, 255),
      count: num(p, `${path}.count`, a.count, 1, 255),
      class: classNumber(p, `${path}.class`, a.class, 0xff),
      subclass: num(p, `${path}.subclass`, a.subclass, 0, 255, 0),
      protocol: num(p, `${path}.protocol`, a.protocol, 0, 255, 0),
      ...(typeof a.name === "string" ? { name: a.name } : {}),
    };
    if (as.firstInterface + as.count > numbers.length) p.add(path, `covers interfaces ${as.firstInterface}..${as.firstInterface + as.count - 1}, but there are ${numbers.length}`);
    associations.push(as);
  });

  const st = isObj(doc.strings) ? doc.strings : {};
  if (doc.strings !== undefined && !isObj(doc.strings)) p.add("strings", "must be a table");
  unknown(p, "strings", st, ["languages", "translations"]);
  const languages = Array.isArray(st.languages) ? st.languages.map((l, i) => language(p, `strings.languages[${i}]`, l)) : [0x0409];
  if (st.languages !== undefined && (!Array.isArray(st.languages) || st.languages.length === 0)) p.add("strings.languages", "must be a non-empty list");
  if (new Set(languages).size !== languages.length) p.add("strings.languages", "a language is listed twice");
  const translations: Record<number, Record<string, string>> = {};
  if (st.translations !== undefined) {
    if (!isObj(st.translations)) p.add("strings.translations", "must be a table of languages");
    else {
      for (const [lang, table] of Object.entries(st.translations)) {
        const code = language(p, `strings.translations.${lang}`, /^(0x[0-9a-fA-F]+|\d+)$/.test(lang) ? Number(lang) : lang);
        if (!languages.includes(code)) p.add(`strings.translations.${lang}`, "is not in strings.languages");
        if (!isObj(table)) {
          p.add(`strings.translations.${lang}`, "must be a table original = translation");
          continue;
        }
        translations[code] = {};
        for (const [orig, tr] of Object.entries(table)) {
          if (typeof tr !== "string" || !usbStringOk(tr)) p.add(`strings.translations.${lang}.${orig}`, "must be a USB string (at most 126 UTF-16 units)");
          else translations[code]![orig] = tr;
        }
      }
    }
  }

  const msOs: MsOsSpec[] = [];
  (Array.isArray(doc.ms_os) ? doc.ms_os : doc.ms_os === undefined ? [] : (p.add("ms_os", "must be a list"), [])).forEach((m, i) => {
    const path = `ms_os[${i}]`;
    if (!isObj(m)) return p.add(path, "must be a table");
    unknown(p, path, m, ["interface", "compatible_id", "sub_compatible_id", "properties"]);
    const id8 = (k: string, v: unknown) => {
      if (v === undefined) return "";
      if (typeof v !== "string" || v.length > 8 || !/^[\x20-\x7e]*$/.test(v)) p.add(`${path}.${k}`, "must be at most 8 ASCII characters");
      return String(v);
    };
    const mo: MsOsSpec = {
      interface: num(p, `${path}.interface`, m.interface, 0, 255),
      compatibleId: id8("compatible_id", m.compatible_id),
      subCompatibleId: id8("sub_compatible_id", m.sub_compatible_id),
      properties: [],
    };
    if (mo.interface >= numbers.length) p.add(`${path}.interface`, `there is no interface ${mo.interface}`);
    (Array.isArray(m.properties) ? m.properties : []).forEach((pr, j) => {
      const x = extProperty(p, `${path}.properties[${j}]`, pr);
      if (x) mo.properties.push(x);
    });
    msOs.push(mo);
  });

  if (p.list.length) throw new SpecError(source, p.list);
  return { speeds, flags, associations, interfaces, languages, translations, msOs };
}

/** Parses a spec file's text: ".json" as JSON, anything else as TOML. */
export function parseFunctionSpec(text: string, source: string): FunctionSpec {
  let doc: unknown;
  try {
    doc = parseConfigText(text, source);
  } catch (e) {
    throw new SpecError(source, [(e as Error).message]);
  }
  return validateFunctionSpec(doc, source);
}
