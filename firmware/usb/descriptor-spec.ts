/**
 * A readable description of a FunctionFS function (TOML or JSON): its shape, declared with
 * the description schema (lib/description-schema.ts); the USB rules it must also follow are in
 * descriptor-rules.ts, the validated form in descriptor-types.ts. The compiler (ffs-blobs.ts)
 * turns a validated spec into the descriptor and string blobs the kernel reads from ep0. Every
 * problem is reported with its place in the spec and its line in the file
 * ("interfaces[0].endpoints[1].max_packet.high: ... (line 12)"). Pure.
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
import { readDescription, validateDescription } from "../lib/config-text.ts";
import {
  anything,
  bool,
  child,
  custom,
  DescriptionError,
  dflt,
  int,
  isTable,
  list,
  named,
  obj,
  opt,
  oneOf,
  record,
  refine,
  req,
  show,
  str,
  validate,
  type Schema,
  type Walk,
} from "../lib/description-schema.ts";
import {
  checkClassDescriptor,
  checkEndpointLimits,
  checkEndpointSettings,
  checkInterfaceLayout,
  DEFAULT_INTERVAL,
  DEFAULT_MAX_PACKET,
  usbStringOk,
  type PlacedInterface,
} from "./descriptor-rules.ts";
import {
  SPEEDS,
  type AssociationSpec,
  type ClassDescriptorSpec,
  type EndpointSpec,
  type EndpointType,
  type ExtPropertySpec,
  type FunctionSpec,
  type MsOsSpec,
  type Speed,
} from "./descriptor-types.ts";

export * from "./descriptor-types.ts";

/** What the error message calls these files. */
export const SPEC_KIND = "USB function description";

/** The one error of description files; the old name stays for the tests that use it. */
export const SpecError = DescriptionError;
export type SpecError = DescriptionError;

export const INTERFACE_CLASSES: Record<string, number> = {
  "per-interface": 0x00,
  audio: 0x01,
  comm: 0x02,
  cdc: 0x02,
  hid: 0x03,
  physical: 0x05,
  image: 0x06,
  "still-image": 0x06,
  printer: 0x07,
  "mass-storage": 0x08,
  hub: 0x09,
  "cdc-data": 0x0a,
  "smart-card": 0x0b,
  ccid: 0x0b,
  "content-security": 0x0d,
  video: 0x0e,
  "personal-healthcare": 0x0f,
  "audio-video": 0x10,
  billboard: 0x11,
  "type-c-bridge": 0x12,
  diagnostic: 0xdc,
  wireless: 0xe0,
  misc: 0xef,
  application: 0xfe,
  vendor: 0xff,
  "vendor-specific": 0xff,
};

const LANGUAGES: Record<string, number> = {
  "en-US": 0x0409,
  "en-GB": 0x0809,
  "de-DE": 0x0407,
  "fr-FR": 0x040c,
  "es-ES": 0x0c0a,
  "it-IT": 0x0410,
  "ja-JP": 0x0411,
  "zh-CN": 0x0804,
  "zh-TW": 0x0404,
  "ko-KR": 0x0412,
  "pt-BR": 0x0416,
  "ru-RU": 0x0419,
  "nl-NL": 0x0413,
  "sv-SE": 0x041d,
  "pl-PL": 0x0415,
};

export const EXT_PROP_TYPES: Record<string, number> = { sz: 1, "expand-sz": 2, binary: 3, "dword-le": 4, "dword-be": 5, link: 6, "multi-sz": 7 };
const SYNC: Record<string, number> = { none: 0, async: 1, adaptive: 2, sync: 3 };
const USAGE: Record<string, number> = { data: 0, feedback: 1, implicit: 2 };
const ENDPOINT_TYPES: readonly EndpointType[] = ["bulk", "interrupt", "isochronous"];

// ---- Shapes: what each table may hold ----

/** Numbers in descriptor fields may also be written as text: "0x81", "255". */
const byte = int(0, 255, { text: true });
const num = (min: number, max: number) => int(min, max, { text: true });

/** A value with the key path it was read at (lists leave out unusable items; indexes stay true). */
interface Placed<T> {
  at: string;
  v: T;
}
const placed = <T>(s: Schema<T>): Schema<Placed<T>> => refine(s, (v, _w, at) => ({ at, v }));

const classNumber: Schema<number> = custom(
  "a class",
  (v, w, path) => {
    if (typeof v === "string" && Object.hasOwn(INTERFACE_CLASSES, v)) return INTERFACE_CLASSES[v];
    if (typeof v === "string" && !/^(0x[0-9a-fA-F]+|\d+)$/.test(v))
      return (w.add(path, `unknown class ${show(v)} (use a number or one of ${Object.keys(INTERFACE_CLASSES).join(", ")})`), undefined);
    return byte.read(v, w, path);
  },
  () => 0xff,
);

/** Hex bytes "09 21 11 01" or "0x09,0x21" or a list of numbers. */
const bytes: Schema<Uint8Array> = custom(
  "bytes",
  (v, w, path) => {
    if (v instanceof Uint8Array) return v;
    if (Array.isArray(v)) return new Uint8Array(v.map((b, i) => byte.read(b, w, `${path}[${i}]`) ?? 0));
    if (typeof v === "string") {
      const parts = v
        .replace(/0x/gi, "")
        .split(/[\s,:]+/)
        .filter(Boolean);
      if (parts.every((x) => /^[0-9a-fA-F]{1,2}$/.test(x))) return new Uint8Array(parts.map((x) => parseInt(x, 16)));
      if (/^[0-9a-fA-F]+$/.test(v) && v.length % 2 === 0) return new Uint8Array(v.match(/../g)!.map((x) => parseInt(x, 16)));
    }
    w.add(path, 'must be bytes: hex such as "09 21 11 01", or a list of numbers');
    return undefined;
  },
  () => new Uint8Array(0),
);

const usbString = refine(str(), (s, w, path) => (usbStringOk(s) ? s : (w.add(path, "a USB string holds at most 126 UTF-16 units and no NUL"), undefined)));
const language = named(LANGUAGES, `a language id or one of ${Object.keys(LANGUAGES).join(", ")}`, int(1, 0xffff, { text: true, hex: true }));

/** A number for every speed, or a table of some speeds (the others keep the type's default). */
function perSpeed(min: number, max: number): Schema<Partial<Record<Speed, number>>> {
  const n = num(min, max);
  return custom(
    "a number or a table of full/high/super",
    (v, w, path) => {
      if (typeof v === "number" || typeof v === "string") {
        const x = n.read(v, w, path);
        return x === undefined ? undefined : { full: x, high: x, super: x };
      }
      if (!isTable(v)) return (w.add(path, "must be a number or a table of full/high/super"), undefined);
      for (const k of Object.keys(v)) if (!SPEEDS.includes(k as Speed)) w.add(child(path, k), "unknown speed (full, high, super)");
      const out: Partial<Record<Speed, number>> = {};
      for (const s of SPEEDS) {
        const x = v[s] === undefined ? undefined : n.read(v[s], w, `${path}.${s}`);
        if (x !== undefined) out[s] = x;
      }
      return out;
    },
    () => ({}),
  );
}

const audio = refine(obj({ refresh: dflt(byte, 0), synch_address: dflt(byte, 0) }), (a) => ({ refresh: a.refresh, synchAddress: a.synch_address }));

function endpointSchema(speeds: () => Speed[]): Schema<Placed<EndpointSpec>> {
  const fields = obj({
    number: opt(num(1, 15)),
    address: opt(byte),
    direction: opt(oneOf(["in", "out"] as const)),
    type: req(oneOf(ENDPOINT_TYPES, { notes: { control: "control endpoints other than ep0 are not supported by FunctionFS" } })),
    max_packet: opt(perSpeed(1, 1024)),
    interval: opt(perSpeed(0, 255)),
    sync: opt(named(SYNC, "none, async, adaptive or sync")),
    usage: opt(named(USAGE, "data, feedback or implicit")),
    mult: dflt(num(0, 2), 0),
    burst: dflt(num(0, 15), 0),
    max_streams: dflt(num(0, 16), 0),
    bytes_per_interval: opt(num(0, 0xffff)),
    audio: opt(audio),
  });
  return refine(fields, (r, w, path) => {
    let number: number;
    let direction: "in" | "out";
    if (r.address !== undefined) {
      number = r.address & 0x0f;
      direction = r.address & 0x80 ? "in" : "out";
      if (r.direction !== undefined && r.direction !== direction) w.add(`${path}.direction`, `contradicts address 0x${r.address.toString(16)}`);
    } else {
      if (r.number === undefined && !w.failed(`${path}.number`) && !w.failed(`${path}.address`)) w.add(`${path}.number`, "missing (an integer)");
      if (r.direction === undefined && !w.failed(`${path}.direction`)) w.add(`${path}.direction`, 'missing ("in" or "out")');
      number = r.number ?? 1;
      direction = r.direction ?? "out";
    }
    if (w.failed(`${path}.type`)) return undefined; // the rules below depend on the type
    const type = r.type;
    const maxPacket = { ...DEFAULT_MAX_PACKET[type], ...r.max_packet };
    const e: EndpointSpec = {
      number,
      direction,
      type,
      maxPacket,
      interval: { ...DEFAULT_INTERVAL[type], ...r.interval },
      sync: r.sync ?? 0,
      usage: r.usage ?? 0,
      mult: r.mult,
      burst: r.burst,
      maxStreams: r.max_streams,
      bytesPerInterval: r.bytes_per_interval ?? (type === "bulk" ? 0 : maxPacket.super),
      ...(r.audio ? { audio: r.audio } : {}),
    };
    checkEndpointSettings(w, path, e, {
      ...(r.address !== undefined ? { address: r.address } : {}),
      syncOrUsage: r.sync !== undefined || r.usage !== undefined,
    });
    checkEndpointLimits(w, path, e, speeds());
    return { at: path, v: e };
  });
}

const hid = refine(
  obj({ version: dflt(str({ pattern: /^\d{1,2}\.\d{2}$/, hint: 'like "1.11"' }), "1.11"), country: dflt(byte, 0), report_length: req(num(1, 0xffff)) }),
  (h): ClassDescriptorSpec => {
    // bcdHID: both bytes binary-coded decimal ("1.11" -> 0x0111, "10.01" -> 0x1001).
    const [maj, min] = h.version.split(".").map(Number) as [number, number];
    const twoDigits = (x: number) => (Math.floor(x / 10) << 4) | (x % 10);
    const bcd = (twoDigits(maj) << 8) | twoDigits(min);
    const rl = h.report_length;
    return { type: 0x21, data: new Uint8Array([bcd & 0xff, bcd >> 8, h.country, 1, 0x22, rl & 0xff, rl >> 8]) };
  },
);

const classDescriptor = placed(refine(obj({ type: req(byte), data: req(bytes) }), (d): ClassDescriptorSpec => ({ type: d.type, data: d.data })));

interface ReadInterface extends PlacedInterface {
  numberGiven: number | undefined;
  alternateGiven: number | undefined;
}

function interfaceSchema(speeds: () => Speed[]): Schema<ReadInterface> {
  const fields = obj({
    number: opt(byte),
    alternate: opt(byte),
    class: dflt(classNumber, 0xff),
    subclass: dflt(byte, 0),
    protocol: dflt(byte, 0),
    name: opt(usbString),
    endpoints: dflt(list(endpointSchema(speeds)), []),
    class_descriptors: dflt(list(classDescriptor), []),
    hid: opt(hid),
  });
  return refine(fields, (r, w, path) => {
    const classDescriptors: ClassDescriptorSpec[] = [];
    if (r.hid) {
      if (r.class !== 0x03) w.add(`${path}.hid`, "only for class hid (3) interfaces");
      classDescriptors.push(r.hid);
    }
    for (const d of r.class_descriptors) {
      checkClassDescriptor(w, d.at, r.class, d.v);
      classDescriptors.push(d.v);
    }
    const itf = {
      number: 0,
      alternate: r.alternate ?? 0,
      class: r.class,
      subclass: r.subclass,
      protocol: r.protocol,
      ...(r.name !== undefined ? { name: r.name } : {}),
      classDescriptors,
      endpoints: r.endpoints.map((e) => e.v),
    };
    return { at: path, itf, endpointPaths: r.endpoints.map((e) => e.at), numberGiven: r.number, alternateGiven: r.alternate };
  });
}

const association = placed(
  refine(
    obj({
      first_interface: req(byte),
      count: req(num(1, 255)),
      class: dflt(classNumber, 0xff),
      subclass: dflt(byte, 0),
      protocol: dflt(byte, 0),
      name: opt(str()),
    }),
    (a): AssociationSpec => ({
      firstInterface: a.first_interface,
      count: a.count,
      class: a.class,
      subclass: a.subclass,
      protocol: a.protocol,
      ...(a.name !== undefined ? { name: a.name } : {}),
    }),
  ),
);

/** A Microsoft OS extended property: the value's form follows the registry type. */
const extProperty = refine(
  obj({ name: req(str()), type: req(named(EXT_PROP_TYPES, `one of ${Object.keys(EXT_PROP_TYPES).join(", ")}`)), value: opt(anything) }),
  (p, w, path): ExtPropertySpec | undefined => {
    if (w.failed(`${path}.name`) || w.failed(`${path}.type`)) return undefined;
    const at = `${path}.value`;
    const utf16z = (s: string) => {
      const b = Buffer.from(s + "\0", "utf16le");
      return new Uint8Array(b.buffer, b.byteOffset, b.length);
    };
    const need = <T>(s: Schema<T>): T => (p.value === undefined ? (w.add(at, `missing (${s.what})`), s.fallback()) : (s.read(p.value, w, at) ?? s.fallback()));
    let data: Uint8Array;
    if (p.type === 1 || p.type === 2 || p.type === 6) data = utf16z(need(str({ empty: true })));
    else if (p.type === 7) {
      const parts = need(list(str({ empty: true }))).map(utf16z);
      data = new Uint8Array(parts.reduce((n, b) => n + b.length, 0) + 2);
      let o = 0;
      for (const b of parts) {
        data.set(b, o);
        o += b.length;
      }
    } else if (p.type === 4 || p.type === 5) {
      data = new Uint8Array(4);
      new DataView(data.buffer).setUint32(0, need(num(0, 0xffffffff)), p.type === 4);
    } else data = need(bytes);
    return { name: p.name, type: p.type, data };
  },
);

const id8 = refine(str({ empty: true }), (s, w, path) =>
  s.length <= 8 && /^[\x20-\x7e]*$/.test(s) ? s : (w.add(path, "must be at most 8 ASCII characters"), undefined),
);
const msOs = placed(
  refine(
    obj({ interface: req(byte), compatible_id: dflt(id8, ""), sub_compatible_id: dflt(id8, ""), properties: dflt(list(extProperty), []) }),
    (m): MsOsSpec => ({
      interface: m.interface,
      compatibleId: m.compatible_id,
      subCompatibleId: m.sub_compatible_id,
      properties: m.properties,
    }),
  ),
);

const speedList: Schema<Speed[]> = custom(
  "a list of speeds",
  (v, w, path) => {
    if (!Array.isArray(v) || v.length === 0 || v.some((s) => !SPEEDS.includes(s as Speed)))
      return (w.add(path, "must be a non-empty list of full, high, super"), undefined);
    return SPEEDS.filter((s) => v.includes(s));
  },
  () => [...SPEEDS],
);

const translationTable = record(
  custom(
    "a USB string",
    (v, w, path) => (typeof v === "string" && usbStringOk(v) ? v : (w.add(path, "must be a USB string (at most 126 UTF-16 units)"), undefined)),
    () => "",
  ),
);
const strings = obj({
  languages: opt(list(language, { nonEmpty: "must be a non-empty list" })),
  translations: opt(
    record(
      custom<Record<string, string>>(
        "a table original = translation",
        (v, w, path) => (isTable(v) ? translationTable.read(v, w, path) : (w.add(path, "must be a table original = translation"), undefined)),
        () => ({}),
      ),
    ),
  ),
});

/**
 * The whole description. Fields are read in the order written: [function] first, so that the
 * endpoints read later are checked at the speeds it names.
 */
function functionSchema(): Schema<FunctionSpec> {
  let speeds: Speed[] = [...SPEEDS];
  const fn = refine(
    obj({ speeds: opt(speedList), virtual_addr: dflt(bool, false), all_ctrl_recip: dflt(bool, false), config0_setup: dflt(bool, false) }),
    (f) => {
      if (f.speeds) speeds = f.speeds;
      return { virtualAddr: f.virtual_addr, allCtrlRecip: f.all_ctrl_recip, config0Setup: f.config0_setup };
    },
  );
  const doc = obj({
    function: dflt(fn, { virtualAddr: false, allCtrlRecip: false, config0Setup: false }),
    interfaces: req(
      list(
        interfaceSchema(() => speeds),
        { nonEmpty: "at least one interface is needed" },
      ),
      "at least one interface is needed",
    ),
    associations: dflt(list(association), []),
    strings: dflt(strings, strings.fallback()),
    ms_os: dflt(list(msOs), []),
  });
  return refine(doc, (d, w) => assemble(d.function, speeds, d.interfaces, d.associations, d.strings, d.ms_os, w));
}

/** The rules between parts: interface numbering, associations and MS OS descriptors pointing at interfaces, strings. */
function assemble(
  flags: FunctionSpec["flags"],
  speeds: Speed[],
  read: ReadInterface[],
  assocs: Placed<AssociationSpec>[],
  st: { languages?: number[] | undefined; translations?: Record<string, Record<string, string>> | undefined },
  ms: Placed<MsOsSpec>[],
  w: Walk,
): FunctionSpec {
  // An interface without a number takes the next one; an alternate setting without one, its predecessor's.
  const interfaces = read.map((r, i) => {
    const earlier = read.slice(0, i).map((x) => x.itf);
    if (r.numberGiven !== undefined) r.itf.number = r.numberGiven;
    else if (r.alternateGiven !== undefined) r.itf.number = earlier.length ? earlier[earlier.length - 1]!.number : 0;
    else r.itf.number = earlier.filter((x) => x.alternate === 0).length;
    return r.itf;
  });
  const count = checkInterfaceLayout(w, read);
  for (const a of assocs) {
    const { firstInterface: first, count: n } = a.v;
    if (first + n > count) w.add(a.at, `covers interfaces ${first}..${first + n - 1}, but there are ${count}`);
  }
  for (const m of ms) if (m.v.interface >= count) w.add(`${m.at}.interface`, `there is no interface ${m.v.interface}`);
  const languages = st.languages ?? [0x0409];
  if (new Set(languages).size !== languages.length) w.add("strings.languages", "a language is listed twice");
  const translations: Record<number, Record<string, string>> = {};
  for (const [lang, table] of Object.entries(st.translations ?? {})) {
    const at = child("strings.translations", lang);
    const code = language.read(lang, w, at);
    if (code === undefined) continue;
    if (!languages.includes(code)) w.add(at, "is not in strings.languages");
    translations[code] = table;
  }
  return { speeds, flags, associations: assocs.map((a) => a.v), interfaces, languages, translations, msOs: ms.map((m) => m.v) };
}

/** Validates a parsed (TOML or JSON) document; throws a DescriptionError listing every problem. */
export function validateFunctionSpec(doc: unknown, source: string): FunctionSpec {
  return validate(functionSchema(), doc, { source, kind: SPEC_KIND });
}

/** Parses a spec file's text: ".json" as JSON, anything else as TOML; problems carry their line. */
export function parseFunctionSpec(text: string, source: string): FunctionSpec {
  return validateDescription(readDescription(text, source, SPEC_KIND), functionSchema());
}
