/**
 * FunctionFS blobs (include/uapi/linux/usb/functionfs.h), all little-endian:
 *
 * descriptors (v2): le32 magic=3, le32 length, le32 flags, [le32 fs_count] [le32 hs_count]
 *   [le32 ss_count] [le32 os_count], then the full-, high- and super-speed descriptor lists
 *   (plain USB descriptors) and the MS OS descriptors (an 11-byte f_fs header each:
 *   u8 interface, le32 dwLength, le16 bcdVersion=1, le16 wIndex 4|5, le16 count; then 24-byte
 *   extended compat entries or extended property entries).
 * strings: le32 magic=2, le32 length, le32 str_count, le32 lang_count, then per language
 *   le16 code and str_count NUL-terminated UTF-8 strings.
 *
 * compileFunction() makes both from a validated spec; decodeFunction() gives a spec back.
 * Pure.
 */
import type { AssociationSpec, EndpointSpec, FunctionSpec, InterfaceSpec, MsOsSpec, Speed } from "./descriptor-spec.ts";
import { SPEEDS } from "./descriptor-spec.ts";

export const FUNCTIONFS_DESCRIPTORS_MAGIC_V2 = 3;
export const FUNCTIONFS_STRINGS_MAGIC = 2;
export const FLAGS = {
  HAS_FS_DESC: 1,
  HAS_HS_DESC: 2,
  HAS_SS_DESC: 4,
  HAS_MS_OS_DESC: 8,
  VIRTUAL_ADDR: 16,
  EVENTFD: 32,
  ALL_CTRL_RECIP: 64,
  CONFIG0_SETUP: 128,
} as const;
const SPEED_FLAG: Record<Speed, number> = { full: FLAGS.HAS_FS_DESC, high: FLAGS.HAS_HS_DESC, super: FLAGS.HAS_SS_DESC };
const EP_TYPE_BITS = { isochronous: 1, bulk: 2, interrupt: 3 } as const;

class Writer {
  private bytes: number[] = [];
  u8(v: number) {
    this.bytes.push(v & 0xff);
  }
  u16(v: number) {
    this.u8(v);
    this.u8(v >> 8);
  }
  u32(v: number) {
    this.u16(v & 0xffff);
    this.u16(v >>> 16);
  }
  raw(b: Uint8Array | number[]) {
    for (const x of b) this.bytes.push(x);
  }
  get length() {
    return this.bytes.length;
  }
  patch32(at: number, v: number) {
    for (let i = 0; i < 4; i++) this.bytes[at + i] = (v >>> (8 * i)) & 0xff;
  }
  done(): Uint8Array {
    return new Uint8Array(this.bytes);
  }
}

/** The strings in index order (index 1 first): interface and association names, first language. */
export function stringTable(spec: FunctionSpec): string[] {
  const out: string[] = [];
  const add = (s?: string) => {
    if (s !== undefined && !out.includes(s)) out.push(s);
  };
  for (const a of spec.associations) add(a.name);
  for (const i of spec.interfaces) add(i.name);
  return out;
}

function stringIndex(table: string[], s?: string): number {
  return s === undefined ? 0 : table.indexOf(s) + 1;
}

function endpointDescriptors(w: Writer, e: EndpointSpec, speed: Speed): number {
  let count = 1;
  const attrs = EP_TYPE_BITS[e.type] | (e.type === "isochronous" ? (e.sync << 2) | (e.usage << 4) : 0);
  const mps = e.maxPacket[speed] | (speed === "high" && e.type !== "bulk" ? e.mult << 11 : 0);
  w.u8(e.audio ? 9 : 7);
  w.u8(0x05);
  w.u8(e.number | (e.direction === "in" ? 0x80 : 0));
  w.u8(attrs);
  w.u16(mps);
  w.u8(e.interval[speed]);
  if (e.audio) {
    w.u8(e.audio.refresh);
    w.u8(e.audio.synchAddress);
  }
  if (speed === "super") {
    w.u8(6);
    w.u8(0x30);
    w.u8(e.burst);
    w.u8(e.type === "bulk" ? e.maxStreams : e.type === "isochronous" ? e.mult : 0);
    w.u16(e.type === "bulk" ? 0 : e.bytesPerInterval);
    count++;
  }
  return count;
}

function speedDescriptors(w: Writer, spec: FunctionSpec, speed: Speed, table: string[]): number {
  let count = 0;
  for (const itf of spec.interfaces) {
    for (const a of spec.associations) {
      if (a.firstInterface === itf.number && itf.alternate === 0) {
        w.raw([8, 0x0b, a.firstInterface, a.count, a.class, a.subclass, a.protocol, stringIndex(table, a.name)]);
        count++;
      }
    }
    w.raw([9, 0x04, itf.number, itf.alternate, itf.endpoints.length, itf.class, itf.subclass, itf.protocol, stringIndex(table, itf.name)]);
    count++;
    for (const cd of itf.classDescriptors) {
      w.u8(cd.data.length + 2);
      w.u8(cd.type);
      w.raw(cd.data);
      count++;
    }
    for (const e of itf.endpoints) count += endpointDescriptors(w, e, speed);
  }
  return count;
}

function osDescriptors(w: Writer, msOs: MsOsSpec[]): number {
  let count = 0;
  const compat = msOs.filter((m) => m.compatibleId || m.subCompatibleId);
  if (compat.length) {
    const start = w.length;
    w.u8(0); // interface (unused for extended compat)
    w.u32(0); // dwLength, patched below
    w.u16(1);
    w.u16(4);
    w.u8(compat.length);
    w.u8(0);
    for (const m of compat) {
      w.u8(m.interface);
      w.u8(1);
      const id = (s: string) => Array.from({ length: 8 }, (_, i) => (i < s.length ? s.charCodeAt(i) : 0));
      w.raw(id(m.compatibleId));
      w.raw(id(m.subCompatibleId));
      w.raw([0, 0, 0, 0, 0, 0]);
    }
    w.patch32(start + 1, w.length - start);
    count++;
  }
  for (const m of msOs.filter((x) => x.properties.length)) {
    const start = w.length;
    w.u8(m.interface);
    w.u32(0);
    w.u16(1);
    w.u16(5);
    w.u16(m.properties.length);
    for (const p of m.properties) {
      const name = Buffer.from(p.name + "\0", "utf16le");
      w.u32(14 + name.length + p.data.length);
      w.u32(p.type);
      w.u16(name.length);
      w.raw(name);
      w.u32(p.data.length);
      w.raw(p.data);
    }
    w.patch32(start + 1, w.length - start);
    count++;
  }
  return count;
}

export interface CompiledFunction {
  descriptors: Uint8Array;
  strings: Uint8Array;
  /** Endpoint file names the kernel will create, in descriptor order ("ep1", ... or "ep81"). */
  endpointFiles: string[];
}

export function compileFunction(spec: FunctionSpec): CompiledFunction {
  const table = stringTable(spec);
  let flags = 0;
  for (const s of spec.speeds) flags |= SPEED_FLAG[s];
  if (spec.msOs.length) flags |= FLAGS.HAS_MS_OS_DESC;
  if (spec.flags.virtualAddr) flags |= FLAGS.VIRTUAL_ADDR;
  if (spec.flags.allCtrlRecip) flags |= FLAGS.ALL_CTRL_RECIP;
  if (spec.flags.config0Setup) flags |= FLAGS.CONFIG0_SETUP;
  const body = new Writer();
  const counts: number[] = [];
  for (const s of SPEEDS) if (spec.speeds.includes(s)) counts.push(speedDescriptors(body, spec, s, table));
  const osCount = spec.msOs.length ? osDescriptors(body, spec.msOs) : 0;
  const w = new Writer();
  w.u32(FUNCTIONFS_DESCRIPTORS_MAGIC_V2);
  w.u32(0);
  w.u32(flags);
  for (const c of counts) w.u32(c);
  if (flags & FLAGS.HAS_MS_OS_DESC) w.u32(osCount);
  w.raw(body.done());
  w.patch32(4, w.length);

  const sw = new Writer();
  sw.u32(FUNCTIONFS_STRINGS_MAGIC);
  sw.u32(0);
  sw.u32(table.length);
  sw.u32(table.length ? spec.languages.length : 0);
  if (table.length) {
    for (const lang of spec.languages) {
      sw.u16(lang);
      for (const s of table) {
        sw.raw(new TextEncoder().encode(spec.translations[lang]?.[s] ?? s));
        sw.u8(0);
      }
    }
  }
  sw.patch32(4, sw.length);

  const eps = spec.interfaces.filter((i) => i.alternate === 0).flatMap((i) => i.endpoints);
  const endpointFiles = spec.flags.virtualAddr
    ? eps.map((e) => `ep${(e.number | (e.direction === "in" ? 0x80 : 0)).toString(16).padStart(2, "0")}`)
    : eps.map((_, i) => `ep${i + 1}`);
  return { descriptors: w.done(), strings: sw.done(), endpointFiles };
}

// ---- decoding -----------------------------------------------------------------------------

export class BlobError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "BlobError";
  }
}

function reader(b: Uint8Array) {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  let o = 0;
  const need = (n: number, what: string) => {
    if (o + n > b.length) throw new BlobError(`truncated at byte ${o}: ${what} needs ${n} bytes`);
  };
  return {
    get offset() {
      return o;
    },
    u8(what = "a byte") {
      need(1, what);
      return b[o++]!;
    },
    u16(what = "a 16-bit value") {
      need(2, what);
      const v = dv.getUint16(o, true);
      o += 2;
      return v;
    },
    u32(what = "a 32-bit value") {
      need(4, what);
      const v = dv.getUint32(o, true);
      o += 4;
      return v;
    },
    bytes(n: number, what = "data") {
      need(n, what);
      const v = b.slice(o, o + n);
      o += n;
      return v;
    },
    left() {
      return b.length - o;
    },
  };
}

/** The strings blob back to languages and strings. */
export function decodeStrings(b: Uint8Array): { languages: number[]; strings: Record<number, string[]> } {
  const r = reader(b);
  if (r.u32("magic") !== FUNCTIONFS_STRINGS_MAGIC) throw new BlobError("not a FunctionFS strings blob (magic 2)");
  if (r.u32("length") !== b.length) throw new BlobError("the length field does not match the blob size");
  const count = r.u32("str_count");
  const langs = r.u32("lang_count");
  const out: Record<number, string[]> = {};
  const languages: number[] = [];
  for (let l = 0; l < langs; l++) {
    const code = r.u16("language code");
    languages.push(code);
    out[code] = [];
    for (let i = 0; i < count; i++) {
      const start = r.offset;
      while (r.u8("string") !== 0);
      out[code]!.push(new TextDecoder().decode(b.subarray(start, r.offset - 1)));
    }
  }
  if (r.left()) throw new BlobError(`${r.left()} bytes after the last string`);
  return { languages, strings: out };
}

/** The descriptors (and strings) blobs back to a spec document (as TOML/JSON would hold it). */
export function decodeFunction(desc: Uint8Array, strings?: Uint8Array): Record<string, unknown> {
  const r = reader(desc);
  if (r.u32("magic") !== FUNCTIONFS_DESCRIPTORS_MAGIC_V2) throw new BlobError("not a FunctionFS v2 descriptors blob (magic 3)");
  if (r.u32("length") !== desc.length) throw new BlobError("the length field does not match the blob size");
  const flags = r.u32("flags");
  if (flags & FLAGS.EVENTFD) r.u32("eventfd");
  const speeds = SPEEDS.filter((s) => flags & SPEED_FLAG[s]);
  const counts = speeds.map((s) => r.u32(`${s} count`));
  const osCount = flags & FLAGS.HAS_MS_OS_DESC ? r.u32("os count") : 0;
  const str = strings ? decodeStrings(strings) : null;
  const firstLang = str?.languages[0];
  const name = (idx: number) => (idx && str && firstLang !== undefined ? str.strings[firstLang]![idx - 1] : undefined);
  type RawEp = Record<string, number>;
  type Itf = InterfaceSpec & { rawEndpoints: RawEp[] };
  const perSpeed: Record<Speed, { interfaces: Itf[]; assocs: AssociationSpec[] }> = {
    full: { interfaces: [], assocs: [] },
    high: { interfaces: [], assocs: [] },
    super: { interfaces: [], assocs: [] },
  };
  speeds.forEach((s, si) => {
    let cur: Itf | null = null;
    let lastEp: RawEp | null = null;
    for (let n = 0; n < counts[si]!; n++) {
      const len = r.u8("bLength");
      const type = r.u8("bDescriptorType");
      if (len < 2) throw new BlobError(`descriptor ${n} of the ${s}-speed list has bLength ${len}`);
      const body = r.bytes(len - 2, `descriptor ${n} of the ${s}-speed list`);
      if (type === 0x04) {
        cur = {
          number: body[0]!,
          alternate: body[1]!,
          class: body[3]!,
          subclass: body[4]!,
          protocol: body[5]!,
          name: name(body[6]!),
          classDescriptors: [],
          endpoints: [],
          rawEndpoints: [],
        };
        perSpeed[s].interfaces.push(cur);
      } else if (type === 0x0b) {
        perSpeed[s].assocs.push({ firstInterface: body[0]!, count: body[1]!, class: body[2]!, subclass: body[3]!, protocol: body[4]!, name: name(body[5]!) });
      } else if (type === 0x05) {
        if (!cur) throw new BlobError(`endpoint descriptor before any interface in the ${s}-speed list`);
        const mps = body[2]! | (body[3]! << 8);
        lastEp = { address: body[0]!, attributes: body[1]!, mps: mps & 0x7ff, mult: (mps >> 11) & 3, interval: body[4]! };
        if (len === 9) Object.assign(lastEp, { refresh: body[5]!, synch: body[6]! });
        cur.rawEndpoints.push(lastEp);
      } else if (type === 0x30) {
        if (!lastEp) throw new BlobError(`SuperSpeed companion without an endpoint`);
        Object.assign(lastEp, { burst: body[0]!, compatAttrs: body[1]!, bpi: body[2]! | (body[3]! << 8) });
      } else {
        if (!cur) throw new BlobError(`descriptor type 0x${type.toString(16)} before any interface`);
        cur.classDescriptors.push({ type, data: body });
      }
    }
  });
  const ref = perSpeed[speeds[0]!];
  const typeName = ["control", "isochronous", "bulk", "interrupt"] as const;
  const interfaces = ref.interfaces.map((itf, i) => {
    const eps = itf.rawEndpoints.map((e, j) => {
      const tn = typeName[e.attributes! & 3]!;
      const get = (s: Speed, k: string) => perSpeed[s].interfaces[i]?.rawEndpoints[j]?.[k];
      const ps = (k: string) => Object.fromEntries(speeds.map((s) => [s, get(s, k)]));
      const out: Record<string, unknown> = {
        number: e.address! & 0x0f,
        direction: e.address! & 0x80 ? "in" : "out",
        type: tn,
        max_packet: ps("mps"),
        interval: ps("interval"),
      };
      if (tn === "isochronous") {
        out.sync = ["none", "async", "adaptive", "sync"][(e.attributes! >> 2) & 3];
        out.usage = ["data", "feedback", "implicit", "data"][(e.attributes! >> 4) & 3];
      }
      const hsMult = get("high", "mult");
      if (hsMult) out.mult = hsMult;
      const burst = get("super", "burst");
      if (burst) out.burst = burst;
      const compat = get("super", "compatAttrs");
      if (tn === "bulk" && compat) out.max_streams = compat;
      const bpi = get("super", "bpi");
      if (tn !== "bulk" && bpi !== undefined) out.bytes_per_interval = bpi;
      if (e.refresh !== undefined) out.audio = { refresh: e.refresh, synch_address: e.synch };
      return out;
    });
    const hex = (d: Uint8Array) => Array.from(d, (x) => x.toString(16).padStart(2, "0")).join(" ");
    return {
      number: itf.number,
      alternate: itf.alternate,
      class: itf.class,
      subclass: itf.subclass,
      protocol: itf.protocol,
      ...(itf.name !== undefined ? { name: itf.name } : {}),
      ...(itf.classDescriptors.length ? { class_descriptors: itf.classDescriptors.map((c) => ({ type: c.type, data: hex(c.data) })) } : {}),
      endpoints: eps,
    };
  });
  const msOs: Record<string, unknown>[] = [];
  for (let n = 0; n < osCount; n++) {
    const start = r.offset;
    const itf = r.u8("OS descriptor interface");
    const dwLength = r.u32("dwLength");
    if (r.u16("bcdVersion") !== 1) throw new BlobError("OS descriptor bcdVersion must be 1");
    const wIndex = r.u16("wIndex");
    const cnt = r.u16("count");
    if (wIndex === 4) {
      for (let i = 0; i < (cnt & 0xff); i++) {
        const first = r.u8();
        r.u8();
        const str = (b: Uint8Array) => new TextDecoder().decode(b).replace(/\0+$/, "");
        const compatible = str(r.bytes(8, "CompatibleID"));
        const sub = str(r.bytes(8, "SubCompatibleID"));
        r.bytes(6, "Reserved2");
        msOs.push({ interface: first, compatible_id: compatible, ...(sub ? { sub_compatible_id: sub } : {}) });
      }
    } else if (wIndex === 5) {
      const props: Record<string, unknown>[] = [];
      for (let i = 0; i < cnt; i++) {
        r.u32("dwSize");
        const ptype = r.u32("dwPropertyDataType");
        const nl = r.u16("wPropertyNameLength");
        const pname = Buffer.from(r.bytes(nl, "property name")).toString("utf16le").replace(/\0$/, "");
        const dl = r.u32("dwPropertyDataLength");
        const data = r.bytes(dl, "property data");
        const tname =
          Object.entries({ sz: 1, "expand-sz": 2, binary: 3, "dword-le": 4, "dword-be": 5, link: 6, "multi-sz": 7 }).find(([, v]) => v === ptype)?.[0] ??
          String(ptype);
        let value: unknown;
        if (ptype === 1 || ptype === 2 || ptype === 6) value = Buffer.from(data).toString("utf16le").replace(/\0$/, "");
        else if (ptype === 7) value = Buffer.from(data).toString("utf16le").split("\0").filter(Boolean);
        else if (ptype === 4 || ptype === 5) value = new DataView(data.buffer, data.byteOffset, 4).getUint32(0, ptype === 4);
        else value = Array.from(data, (x) => x.toString(16).padStart(2, "0")).join(" ");
        props.push({ name: pname, type: tname, value });
      }
      const existing = msOs.find((m) => m.interface === itf);
      if (existing) existing.properties = props;
      else msOs.push({ interface: itf, properties: props });
    } else throw new BlobError(`unknown OS descriptor wIndex ${wIndex}`);
    if (r.offset - start !== dwLength) throw new BlobError(`OS descriptor ${n}: dwLength ${dwLength} but ${r.offset - start} bytes`);
  }
  if (r.left()) throw new BlobError(`${r.left()} unexpected bytes after the descriptors`);
  const doc: Record<string, unknown> = {
    function: {
      speeds,
      ...(flags & FLAGS.VIRTUAL_ADDR ? { virtual_addr: true } : {}),
      ...(flags & FLAGS.ALL_CTRL_RECIP ? { all_ctrl_recip: true } : {}),
      ...(flags & FLAGS.CONFIG0_SETUP ? { config0_setup: true } : {}),
    },
    interfaces,
  };
  if (ref.assocs.length)
    doc.associations = ref.assocs.map((a) => ({
      first_interface: a.firstInterface,
      count: a.count,
      class: a.class,
      subclass: a.subclass,
      protocol: a.protocol,
      ...(a.name ? { name: a.name } : {}),
    }));
  if (str && str.languages.length) {
    const first = str.languages[0]!;
    const translations: Record<string, Record<string, string>> = {};
    for (const l of str.languages.slice(1)) {
      const t: Record<string, string> = {};
      str.strings[l]!.forEach((s, i) => {
        const orig = str.strings[first]![i]!;
        if (s !== orig) t[orig] = s;
      });
      if (Object.keys(t).length) translations[`0x${l.toString(16).padStart(4, "0")}`] = t;
    }
    doc.strings = { languages: str.languages, ...(Object.keys(translations).length ? { translations } : {}) };
  }
  if (msOs.length) doc.ms_os = msOs;
  return doc;
}
