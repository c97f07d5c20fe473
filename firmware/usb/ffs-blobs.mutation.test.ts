import { describe, expect, test } from "bun:test";
import { validateFunctionSpec } from "./descriptor-spec.ts";
import { BlobError, compileFunction, decodeFunction, decodeStrings, FLAGS, stringTable } from "./ffs-blobs.ts";

const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join(" ");
const bytes = (h: string) =>
  new Uint8Array(
    h
      .split(" ")
      .filter(Boolean)
      .map((x) => parseInt(x, 16)),
  );
const compile = (doc: Record<string, unknown>) => compileFunction(validateFunctionSpec(doc, "t.toml"));

/** Every kind of descriptor: an association, HID, interrupt/bulk/isochronous endpoints at three speeds, an alternate setting, translations, MS OS descriptors. */
const RICH = {
  function: { virtual_addr: true, config0_setup: true, all_ctrl_recip: true },
  associations: [{ first_interface: 0, count: 2, class: 2, subclass: 2, protocol: 1, name: "pair" }],
  interfaces: [
    {
      class: "hid",
      name: "pair",
      hid: { report_length: 10 },
      endpoints: [
        {
          number: 1,
          direction: "in",
          type: "interrupt",
          max_packet: { full: 64, high: 1024, super: 1024 },
          interval: { full: 10, high: 4, super: 4 },
          mult: 2,
          burst: 1,
          bytes_per_interval: 2048,
        },
      ],
    },
    {
      class: "vendor",
      name: "data",
      endpoints: [
        { number: 2, direction: "out", type: "bulk", max_streams: 4, burst: 15 },
        {
          number: 3,
          direction: "in",
          type: "isochronous",
          sync: "async",
          usage: "feedback",
          audio: { refresh: 1, synch_address: 0x83 },
          max_packet: { full: 1023, high: 1024, super: 1024 },
          interval: 1,
          mult: 1,
        },
        { number: 4, direction: "in", type: "isochronous", sync: "adaptive", usage: "implicit", max_packet: 512, interval: 1 },
        { number: 5, direction: "in", type: "isochronous", sync: "sync", max_packet: 512, interval: 1 },
      ],
    },
    { number: 1, alternate: 1, class: "vendor", endpoints: [{ number: 6, direction: "in", type: "bulk" }] },
  ],
  strings: { languages: ["en-US", "de-DE", "fr-FR"], translations: { "de-DE": { data: "Daten" } } },
  ms_os: [
    {
      interface: 0,
      compatible_id: "WINUSB",
      sub_compatible_id: "SUB",
      properties: [
        { name: "S", type: "sz", value: "ab" },
        { name: "E", type: "expand-sz", value: "%x%" },
        { name: "L", type: "link", value: "l" },
        { name: "M", type: "multi-sz", value: ["a", "b"] },
        { name: "DL", type: "dword-le", value: 0x01020304 },
        { name: "DB", type: "dword-be", value: 0x01020304 },
        { name: "B", type: "binary", value: "0a ff" },
      ],
    },
    { interface: 1, properties: [{ name: "Only", type: "sz", value: "p" }] },
  ],
};

/** A descriptors blob: header with `flags`, the given counts, then `body` (hex). */
function descBlob(flags: number, counts: number[], body: string): Uint8Array {
  const b = bytes(body);
  const out = new Uint8Array(12 + 4 * counts.length + b.length);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, 3, true);
  dv.setUint32(4, out.length, true);
  dv.setUint32(8, flags, true);
  counts.forEach((c, i) => dv.setUint32(12 + 4 * i, c, true));
  out.set(b, 12 + 4 * counts.length);
  return out;
}
function blobError(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(BlobError);
    expect((e as Error).name).toBe("BlobError");
    return (e as Error).message;
  }
  throw new Error("no BlobError thrown");
}
const ITF = "09 04 00 00 00 ff 00 00 00";

describe("compiling", () => {
  test("the string table: association and interface names once each, in order", () => {
    expect(stringTable(validateFunctionSpec(RICH, "r"))).toEqual(["pair", "data"]);
  });

  test("endpoint bits per speed: iso sync/usage, high-speed mult, audio, SuperSpeed companions", () => {
    const d = hex(compile(RICH).descriptors);
    expect(d).toContain("07 05 81 03 00 14 04"); // high-speed interrupt: 1024 | mult 2 << 11
    expect(d).toContain("07 05 81 03 00 04 04 06 30 01 00 00 08"); // SuperSpeed interrupt: burst 1, bytes per interval 2048
    expect(d).toContain("07 05 02 02 00 04 00 06 30 0f 04 00 00"); // SuperSpeed bulk: burst 15, 4 streams, no bytes per interval
    expect(d).toContain("09 05 83 15 00 0c 01 01 83"); // high-speed iso, async feedback, audio refresh/synch, mult 1
    expect(d).toContain("09 05 83 15 00 04 01 01 83 06 30 00 01 00 04"); // SuperSpeed iso: mult in the companion
    expect(d).toContain("07 05 84 29 00 02 01"); // adaptive, implicit feedback
    expect(d).toContain("07 05 85 0d 00 02 01"); // synchronous, data
  });

  test("an association precedes only its first interface's default setting", () => {
    const c = compile({ function: { speeds: ["full"] }, associations: [{ first_interface: 1, count: 1 }], interfaces: [{}, {}, { number: 1, alternate: 1 }] });
    expect(hex(c.descriptors)).toBe(
      "03 00 00 00 33 00 00 00 01 00 00 00 04 00 00 00 09 04 00 00 00 ff 00 00 00 08 0b 01 01 ff 00 00 00 09 04 01 00 00 ff 00 00 00 09 04 01 01 00 ff 00 00 00",
    );
  });

  test("an extended property descriptor, exactly; no compat descriptor without ids; no strings without names", () => {
    const c = compile({ function: { speeds: ["full"] }, interfaces: [{}], ms_os: [{ interface: 0, properties: [{ name: "A", type: "sz", value: "b" }] }] });
    expect(hex(c.descriptors)).toBe(
      `03 00 00 00 3e 00 00 00 09 00 00 00 01 00 00 00 01 00 00 00 ${ITF} 00 21 00 00 00 01 00 05 00 01 00 16 00 00 00 01 00 00 00 04 00 41 00 00 00 04 00 00 00 62 00 00 00`,
    );
    expect(hex(c.strings)).toBe("02 00 00 00 10 00 00 00 00 00 00 00 00 00 00 00");
  });

  test("endpoint files: default settings only, named by address with virtual addresses", () => {
    expect(compile(RICH).endpointFiles).toEqual(["ep81", "ep02", "ep83", "ep84", "ep85"]);
    expect(compile({ ...RICH, function: {} }).endpointFiles).toEqual(["ep1", "ep2", "ep3", "ep4", "ep5"]);
  });

  test("SuperSpeed bulk companions carry no bytes per interval", () => {
    const c = compile({ function: { speeds: ["super"] }, interfaces: [{ endpoints: [{ number: 1, direction: "in", type: "bulk", bytes_per_interval: 5 }] }] });
    expect(hex(c.descriptors)).toContain("07 05 81 02 00 04 00 06 30 00 00 00 00");
  });
});

describe("decoding", () => {
  test("every field comes back", () => {
    const c = compile(RICH);
    const speeds = (full: number, high: number, sup: number) => ({ full, high, super: sup });
    expect(decodeFunction(c.descriptors, c.strings)).toStrictEqual({
      function: { speeds: ["full", "high", "super"], virtual_addr: true, all_ctrl_recip: true, config0_setup: true },
      interfaces: [
        {
          number: 0,
          alternate: 0,
          class: 3,
          subclass: 0,
          protocol: 0,
          name: "pair",
          class_descriptors: [{ type: 0x21, data: "11 01 00 01 22 0a 00" }],
          endpoints: [
            {
              number: 1,
              direction: "in",
              type: "interrupt",
              max_packet: speeds(64, 1024, 1024),
              interval: speeds(10, 4, 4),
              mult: 2,
              burst: 1,
              bytes_per_interval: 2048,
            },
          ],
        },
        {
          number: 1,
          alternate: 0,
          class: 255,
          subclass: 0,
          protocol: 0,
          name: "data",
          endpoints: [
            { number: 2, direction: "out", type: "bulk", max_packet: speeds(64, 512, 1024), interval: speeds(0, 0, 0), burst: 15, max_streams: 4 },
            {
              number: 3,
              direction: "in",
              type: "isochronous",
              max_packet: speeds(1023, 1024, 1024),
              interval: speeds(1, 1, 1),
              sync: "async",
              usage: "feedback",
              mult: 1,
              bytes_per_interval: 1024,
              audio: { refresh: 1, synch_address: 0x83 },
            },
            {
              number: 4,
              direction: "in",
              type: "isochronous",
              max_packet: speeds(512, 512, 512),
              interval: speeds(1, 1, 1),
              sync: "adaptive",
              usage: "implicit",
              bytes_per_interval: 512,
            },
            {
              number: 5,
              direction: "in",
              type: "isochronous",
              max_packet: speeds(512, 512, 512),
              interval: speeds(1, 1, 1),
              sync: "sync",
              usage: "data",
              bytes_per_interval: 512,
            },
          ],
        },
        {
          number: 1,
          alternate: 1,
          class: 255,
          subclass: 0,
          protocol: 0,
          endpoints: [{ number: 6, direction: "in", type: "bulk", max_packet: speeds(64, 512, 1024), interval: speeds(0, 0, 0) }],
        },
      ],
      associations: [{ first_interface: 0, count: 2, class: 2, subclass: 2, protocol: 1, name: "pair" }],
      strings: { languages: [0x0409, 0x0407, 0x040c], translations: { "0x0407": { data: "Daten" } } },
      ms_os: [
        {
          interface: 0,
          compatible_id: "WINUSB",
          sub_compatible_id: "SUB",
          properties: [
            { name: "S", type: "sz", value: "ab" },
            { name: "E", type: "expand-sz", value: "%x%" },
            { name: "L", type: "link", value: "l" },
            { name: "M", type: "multi-sz", value: ["a", "b"] },
            { name: "DL", type: "dword-le", value: 0x01020304 },
            { name: "DB", type: "dword-be", value: 0x01020304 },
            { name: "B", type: "binary", value: "0a ff" },
          ],
        },
        { interface: 1, properties: [{ name: "Only", type: "sz", value: "p" }] },
      ],
    });
  });

  test("a minimal function: one speed, no names, no associations, no MS OS descriptors", () => {
    const c = compile({ function: { speeds: ["full"] }, interfaces: [{ endpoints: [{ number: 1, direction: "in", type: "bulk" }] }] });
    const doc = {
      function: { speeds: ["full"] },
      interfaces: [
        {
          number: 0,
          alternate: 0,
          class: 255,
          subclass: 0,
          protocol: 0,
          endpoints: [{ number: 1, direction: "in", type: "bulk", max_packet: { full: 64 }, interval: { full: 0 } }],
        },
      ],
    };
    expect(decodeFunction(c.descriptors)).toStrictEqual(doc);
    expect(decodeFunction(c.descriptors, c.strings)).toStrictEqual(doc);
  });

  test("a function without full speed: the first speed's list is the reference", () => {
    for (const speed of ["high", "super"]) {
      const c = compile({ function: { speeds: [speed] }, interfaces: [{}] });
      expect(decodeFunction(c.descriptors)).toStrictEqual({
        function: { speeds: [speed] },
        interfaces: [{ number: 0, alternate: 0, class: 255, subclass: 0, protocol: 0, endpoints: [] }],
      });
    }
  });

  test("isochronous defaults and reserved bits; interrupt endpoints below SuperSpeed have no bytes per interval", () => {
    const iso = compile({
      function: { speeds: ["full"] },
      interfaces: [{ endpoints: [{ number: 1, direction: "in", type: "isochronous", max_packet: 8, interval: 1 }] }],
    });
    const ep = (d: Uint8Array) => (decodeFunction(d).interfaces as { endpoints: Record<string, unknown>[] }[])[0]!.endpoints[0]!;
    expect(ep(iso.descriptors)).toStrictEqual({
      number: 1,
      direction: "in",
      type: "isochronous",
      max_packet: { full: 8 },
      interval: { full: 1 },
      sync: "none",
      usage: "data",
    });
    const reserved = iso.descriptors.slice();
    const at = hex(reserved).split(" ").indexOf("81") + 1;
    reserved[at] = reserved[at]! | 0x30;
    expect(reserved[at]).toBe(0x31);
    expect(ep(reserved)).toMatchObject({ sync: "none", usage: "data" });
    const intr = compile({ function: { speeds: ["full", "high"] }, interfaces: [{ endpoints: [{ number: 1, direction: "in", type: "interrupt" }] }] });
    expect(Object.keys(ep(intr.descriptors))).toEqual(["number", "direction", "type", "max_packet", "interval"]);
  });

  test("a strings blob without languages names nothing", () => {
    const named = compile({ interfaces: [{ name: "n" }] });
    const nameless = compile({ interfaces: [{}] });
    expect((decodeFunction(named.descriptors, nameless.strings).interfaces as object[])[0]).not.toHaveProperty("name");
  });

  test("speed lists that disagree: what a list lacks is undefined", () => {
    const d = descBlob(FLAGS.HAS_FS_DESC | FLAGS.HAS_HS_DESC, [2, 1], `${ITF.replace("00 ff", "01 ff")} 07 05 81 02 40 00 00 ${ITF}`);
    const e = (decodeFunction(d).interfaces as { endpoints: Record<string, unknown>[] }[])[0]!.endpoints[0]!;
    expect(e.max_packet).toEqual({ full: 64, high: undefined });
  });

  test("an unknown property type is kept as its number with the data in hex", () => {
    const c = compile({ function: { speeds: ["full"] }, interfaces: [{}], ms_os: [{ interface: 0, properties: [{ name: "A", type: "sz", value: "b" }] }] });
    const d = c.descriptors.slice();
    const h = hex(d);
    const at = h.indexOf("16 00 00 00 01 00 00 00") / 3 + 4;
    expect(Number.isInteger(at) && at > 4).toBe(true);
    d[at] = 9;
    expect(decodeFunction(d).ms_os).toEqual([{ interface: 0, properties: [{ name: "A", type: "9", value: "62 00 00 00" }] }]);
  });

  test("compat ids only: no properties key", () => {
    const c = compile({ interfaces: [{}], ms_os: [{ interface: 0, compatible_id: "WINUSB" }] });
    expect(decodeFunction(c.descriptors).ms_os).toStrictEqual([{ interface: 0, compatible_id: "WINUSB" }]);
  });

  test("the eventfd word after the flags is skipped", () => {
    const plain = descBlob(FLAGS.HAS_FS_DESC, [1], ITF);
    const withFd = descBlob(FLAGS.HAS_FS_DESC | FLAGS.EVENTFD, [7, 1], ITF);
    expect(decodeFunction(withFd)).toStrictEqual(decodeFunction(plain));
  });

  test("a class descriptor may be empty", () => {
    const doc = decodeFunction(descBlob(FLAGS.HAS_FS_DESC, [2], `${ITF} 02 24`));
    expect((doc.interfaces as { class_descriptors: unknown }[])[0]!.class_descriptors).toEqual([{ type: 0x24, data: "" }]);
  });

  test("strings: every language", () => {
    const c = compile(RICH);
    expect(decodeStrings(c.strings)).toEqual({
      languages: [0x0409, 0x0407, 0x040c],
      strings: { 1033: ["pair", "data"], 1031: ["pair", "Daten"], 1036: ["pair", "data"] },
    });
  });
});

describe("malformed blobs", () => {
  /** The field each cut of `b` stops in (the length word patched to the cut), in order. */
  function cuts(b: Uint8Array, decode: (x: Uint8Array) => unknown): string[] {
    const out: string[] = [];
    for (let cut = 0; cut < b.length; cut++) {
      const t = b.slice(0, cut);
      if (cut >= 8) new DataView(t.buffer).setUint32(4, cut, true);
      const m = /^truncated at byte (\d+): (.+) needs (\d+) bytes$/.exec(blobError(() => decode(t)));
      expect(m).not.toBeNull();
      expect(Number(m![1]) + Number(m![3])).toBeGreaterThan(cut);
      if (out[out.length - 1] !== m![2]) out.push(m![2]!);
    }
    return out;
  }

  test("a cut anywhere names the field it falls in", () => {
    const c = compile({
      function: { speeds: ["full", "super"] },
      interfaces: [{ name: "n", endpoints: [{ number: 1, direction: "in", type: "bulk" }] }],
      ms_os: [{ interface: 0, compatible_id: "WINUSB", properties: [{ name: "A", type: "sz", value: "b" }] }],
    });
    const list = (s: string, n: number) => Array.from({ length: n }, (_, i) => ["bLength", "bDescriptorType", `descriptor ${i} of the ${s}-speed list`]).flat();
    const os = ["OS descriptor interface", "dwLength", "bcdVersion", "wIndex", "count"];
    expect(cuts(c.descriptors, (x) => decodeFunction(x))).toEqual([
      "magic",
      "length",
      "flags",
      "full count",
      "super count",
      "os count",
      ...list("full", 2),
      ...list("super", 3),
      ...os,
      "a byte",
      "CompatibleID",
      "SubCompatibleID",
      "Reserved2",
      ...os,
      "dwSize",
      "dwPropertyDataType",
      "wPropertyNameLength",
      "property name",
      "dwPropertyDataLength",
      "property data",
    ]);
    expect(cuts(c.strings, decodeStrings)).toEqual(["magic", "length", "str_count", "lang_count", "language code", "string"]);
  });

  test("a cut in the eventfd word names it", () => {
    const withFd = descBlob(FLAGS.HAS_FS_DESC | FLAGS.EVENTFD, [7, 1], ITF).slice(0, 14);
    new DataView(withFd.buffer).setUint32(4, 14, true);
    expect(blobError(() => decodeFunction(withFd))).toBe("truncated at byte 12: eventfd needs 4 bytes");
  });

  test("headers and lengths", () => {
    const c = compile({ interfaces: [{ name: "n" }] });
    const d = c.descriptors.slice();
    d[0] = 4;
    expect(blobError(() => decodeFunction(d))).toBe("not a FunctionFS v2 descriptors blob (magic 3)");
    const s = c.strings.slice();
    s[0] = 3;
    expect(blobError(() => decodeStrings(s))).toBe("not a FunctionFS strings blob (magic 2)");
    const longer = (b: Uint8Array) => {
      const x = new Uint8Array(b.length + 2);
      x.set(b);
      return x;
    };
    expect(blobError(() => decodeFunction(longer(c.descriptors)))).toBe("the length field does not match the blob size");
    expect(blobError(() => decodeStrings(longer(c.strings)))).toBe("the length field does not match the blob size");
    const patched = (b: Uint8Array) => {
      const x = longer(b);
      new DataView(x.buffer).setUint32(4, x.length, true);
      return x;
    };
    expect(blobError(() => decodeFunction(patched(c.descriptors)))).toBe("2 unexpected bytes after the descriptors");
    expect(blobError(() => decodeStrings(patched(c.strings)))).toBe("2 bytes after the last string");
  });

  test("descriptors out of place", () => {
    const fs = (body: string, n = 1) => blobError(() => decodeFunction(descBlob(FLAGS.HAS_FS_DESC, [n], body)));
    expect(fs("07 05 81 02 40 00 00")).toBe("endpoint descriptor before any interface in the full-speed list");
    expect(fs("06 30 00 00 00 00")).toBe("SuperSpeed companion without an endpoint");
    expect(fs("02 24")).toBe("descriptor type 0x24 before any interface");
    expect(fs(`${ITF} 01 24`, 2)).toBe("descriptor 1 of the full-speed list has bLength 1");
  });

  test("MS OS descriptor headers", () => {
    const os = (h: string) => blobError(() => decodeFunction(descBlob(FLAGS.HAS_FS_DESC | FLAGS.HAS_MS_OS_DESC, [1, 1], `${ITF} ${h}`)));
    expect(os("00 0b 00 00 00 02 00 04 00 00 00")).toBe("OS descriptor bcdVersion must be 1");
    expect(os("00 0b 00 00 00 01 00 06 00 00 00")).toBe("unknown OS descriptor wIndex 6");
    expect(os("00 0c 00 00 00 01 00 04 00 00 00")).toBe("OS descriptor 0: dwLength 12 but 11 bytes");
    expect(os("00 0c 00 00 00 01 00 05 00 00 00")).toBe("OS descriptor 0: dwLength 12 but 11 bytes");
  });
});
