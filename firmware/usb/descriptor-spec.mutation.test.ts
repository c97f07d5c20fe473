import { describe, expect, test } from "bun:test";
import { DescriptionError, problemText } from "../lib/description-schema.ts";
import { INTERFACE_CLASSES, validateFunctionSpec } from "./descriptor-spec.ts";

type Doc = Record<string, unknown>;
const ONE = { interfaces: [{}] };

/** Every problem of `doc` as text ([] when it is valid). */
function problems(doc: Doc): string[] {
  try {
    validateFunctionSpec(doc, "t.toml");
    return [];
  } catch (e) {
    if (!(e instanceof DescriptionError)) throw e;
    return e.problems.map(problemText);
  }
}
const ep = (e: Doc) => ({ interfaces: [{ endpoints: [{ number: 1, direction: "in", type: "bulk", ...e }] }] });
const prop = (p: Doc) => ({ interfaces: [{}], ms_os: [{ interface: 0, properties: [{ name: "P", ...p }] }] });
const propData = (p: Doc) => [...validateFunctionSpec(prop(p), "t.toml").msOs[0]!.properties[0]!.data];
const P = "ms_os[0].properties[0]";
const CLASS_NAMES = Object.keys(INTERFACE_CLASSES).join(", ");

describe("interface classes", () => {
  test("names, decimal and hex text, numbers", () => {
    const cls = (c: unknown) => validateFunctionSpec({ interfaces: [{ class: c }] }, "t.toml").interfaces[0]!.class;
    expect(cls("audio")).toBe(1);
    expect(cls("0x1F")).toBe(0x1f);
    expect(cls("12")).toBe(12);
    expect(cls(3)).toBe(3);
    expect(cls(undefined)).toBe(0xff);
  });

  test("unknown names and malformed numbers", () => {
    for (const c of ["bogus", "a12", "12a", "0xg1", "0x"]) {
      expect(problems({ interfaces: [{ class: c }] })).toEqual([`interfaces[0].class: unknown class "${c}" (use a number or one of ${CLASS_NAMES})`]);
    }
    expect(problems({ interfaces: [{ class: 3.5 }] })).toEqual(["interfaces[0].class: must be an integer, not 3.5"]);
    expect(problems({ interfaces: [{ class: 300 }] })).toEqual(["interfaces[0].class: 300 is out of range (0..255)"]);
  });
});

describe("bytes (binary extended properties)", () => {
  test("hex text in its forms, lists, byte arrays", () => {
    expect(propData({ type: "binary", value: "09 21 11 01" })).toEqual([9, 0x21, 0x11, 1]);
    expect(propData({ type: "binary", value: "0x09,0x21" })).toEqual([9, 0x21]);
    expect(propData({ type: "binary", value: "9:a" })).toEqual([9, 10]);
    expect(propData({ type: "binary", value: "09  ,21" })).toEqual([9, 0x21]);
    expect(propData({ type: "binary", value: "0921aB" })).toEqual([9, 0x21, 0xab]);
    expect(propData({ type: "binary", value: " 09 21, " })).toEqual([9, 0x21]);
    expect(propData({ type: "binary", value: [9, 33] })).toEqual([9, 33]);
    expect(propData({ type: "binary", value: new Uint8Array([1, 2]) })).toEqual([1, 2]);
  });

  test("what is not bytes", () => {
    const msg = `${P}.value: must be bytes: hex such as "09 21 11 01", or a list of numbers`;
    for (const v of ["09 zz", "g09 21", "123 45", "092", "09211", "0x0921", "0921zz", true])
      expect(problems(prop({ type: "binary", value: v }))).toEqual([msg]);
    expect(problems(prop({ type: "binary", value: [9, "x"] }))).toEqual([`${P}.value[1]: must be an integer, not "x"`]);
    expect(problems(prop({ type: "binary" }))).toEqual([`${P}.value: missing (bytes)`]);
  });
});

describe("extended properties by registry type", () => {
  const u16z = (s: string) => [...Buffer.from(`${s}\0`, "utf16le")];

  test("strings are UTF-16LE with a NUL; empty strings are allowed", () => {
    for (const type of ["sz", "expand-sz", "link"]) expect(propData({ type, value: "ab" })).toEqual(u16z("ab"));
    expect(propData({ type: "sz", value: "" })).toEqual([0, 0]);
    expect(propData({ type: "multi-sz", value: ["a", "", "bc"] })).toEqual([...u16z("a"), ...u16z(""), ...u16z("bc"), 0, 0]);
  });

  test("dwords in either byte order", () => {
    expect(propData({ type: "dword-le", value: 0x01020304 })).toEqual([4, 3, 2, 1]);
    expect(propData({ type: "dword-be", value: 0x01020304 })).toEqual([1, 2, 3, 4]);
    expect(propData({ type: "binary", value: "01 02" })).toEqual([1, 2]);
  });

  test("a bad name or type reports only that", () => {
    expect(problems(prop({ name: undefined, type: "sz" }))).toEqual([`${P}.name: missing (a string)`]);
    expect(problems(prop({ type: "bogus", value: 5 }))).toEqual([
      `${P}.type: must be one of sz, expand-sz, binary, dword-le, dword-be, link, multi-sz, not "bogus"`,
    ]);
    expect(problems(prop({ type: "sz" }))).toEqual([`${P}.value: missing (a string)`]);
    expect(problems(prop({ type: "sz", value: 5 }))).toEqual([`${P}.value: must be a string, not 5`]);
  });
});

describe("Microsoft OS descriptors", () => {
  test("defaults, and ids of at most 8 ASCII characters", () => {
    expect(validateFunctionSpec({ interfaces: [{}], ms_os: [{ interface: 0 }] }, "t").msOs).toStrictEqual([
      { interface: 0, compatibleId: "", subCompatibleId: "", properties: [] },
    ]);
    const ids = { interface: 0, compatible_id: "WINUSB", sub_compatible_id: "ABCDEFGH" };
    expect(validateFunctionSpec({ interfaces: [{}], ms_os: [ids] }, "t").msOs[0]).toMatchObject({ compatibleId: "WINUSB", subCompatibleId: "ABCDEFGH" });
    expect(validateFunctionSpec({ interfaces: [{}], ms_os: [{ interface: 0, compatible_id: "" }] }, "t").msOs[0]!.compatibleId).toBe("");
    for (const id of ["ABCDEFGHI", "é", "éA", "Aé"]) {
      expect(problems({ interfaces: [{}], ms_os: [{ interface: 0, compatible_id: id }] })).toEqual([
        "ms_os[0].compatible_id: must be at most 8 ASCII characters",
      ]);
    }
  });

  test("the interface must exist", () => {
    expect(problems({ interfaces: [{}], ms_os: [{ interface: 1 }] })).toEqual(["ms_os[0].interface: there is no interface 1"]);
    expect(problems({ interfaces: [{}, {}], ms_os: [{ interface: 1 }] })).toEqual([]);
  });
});

describe("per-speed numbers", () => {
  test("a table of some speeds, the others keep the default", () => {
    const e = validateFunctionSpec(ep({ type: "interrupt", max_packet: { high: 512 } }), "t").interfaces[0]!.endpoints[0]!;
    expect(e.maxPacket.high).toBe(512);
  });

  test("errors name the speed", () => {
    expect(problems(ep({ max_packet: "abc" }))).toEqual(['interfaces[0].endpoints[0].max_packet: must be an integer, not "abc"']);
    expect(problems(ep({ max_packet: [1] }))).toEqual(["interfaces[0].endpoints[0].max_packet: must be a number or a table of full/high/super"]);
    expect(problems(ep({ max_packet: { high: "x" } }))).toEqual(['interfaces[0].endpoints[0].max_packet.high: must be an integer, not "x"']);
  });
});

describe("endpoints", () => {
  const E = "interfaces[0].endpoints[0]";
  const one = (e: Doc) => validateFunctionSpec(ep(e), "t").interfaces[0]!.endpoints[0]!;

  test("the address gives number and direction", () => {
    expect(one({ number: undefined, direction: undefined, address: 0x01 })).toMatchObject({ number: 1, direction: "out" });
    expect(one({ number: undefined, direction: undefined, address: 0x82 })).toMatchObject({ number: 2, direction: "in" });
  });

  test("an unreadable number, address, direction or type is reported once", () => {
    expect(problems(ep({ number: "x" }))).toEqual([`${E}.number: must be an integer, not "x"`]);
    expect(problems(ep({ number: undefined, address: "x" }))).toEqual([`${E}.address: must be an integer, not "x"`]);
    expect(problems(ep({ direction: "sideways" }))).toEqual([`${E}.direction: must be "in" or "out", not "sideways"`]);
    expect(problems(ep({ type: "control" }))).toEqual([
      `${E}.type: must be "bulk", "interrupt" or "isochronous", not "control" (control endpoints other than ep0 are not supported by FunctionFS)`,
    ]);
    // The speed rules need a type: none of them runs without one.
    expect(problems(ep({ type: "control", max_packet: { high: 64 } }))).toEqual([
      `${E}.type: must be "bulk", "interrupt" or "isochronous", not "control" (control endpoints other than ep0 are not supported by FunctionFS)`,
    ]);
    expect(problems(ep({ usage: "bogus", type: "isochronous" }))).toEqual([`${E}.usage: must be data, feedback or implicit, not "bogus"`]);
  });

  test("audio extension fields", () => {
    expect(one({ type: "isochronous", audio: { refresh: 1, synch_address: 0x82 } }).audio).toEqual({ refresh: 1, synchAddress: 0x82 });
    expect(one({ type: "isochronous", audio: {} }).audio).toEqual({ refresh: 0, synchAddress: 0 });
    expect(Object.hasOwn(one({ type: "isochronous" }), "audio")).toBe(false);
  });
});

describe("HID class descriptors", () => {
  const hid = (h: Doc, cls = "hid") => ({ interfaces: [{ class: cls, hid: { report_length: 0x1234, ...h } }] });

  test("version as bcd, country, report length", () => {
    const d = validateFunctionSpec(hid({ version: "2.31", country: 9 }), "t").interfaces[0]!.classDescriptors[0]!;
    expect(d.type).toBe(0x21);
    expect([...d.data]).toEqual([0x31, 0x02, 9, 1, 0x22, 0x34, 0x12]);
    expect(problems(hid({ version: "10.01" }))).toEqual([]);
  });

  test("versions must look like 1.11; only hid interfaces", () => {
    for (const v of ["1.1", "1.11x", "x1.11", "1.ab", "a.11", "1.1a"]) {
      expect(problems(hid({ version: v }))).toEqual([`interfaces[0].hid.version: "${v}" is not valid (like "1.11")`]);
    }
    expect(problems(hid({}, "vendor"))).toEqual(["interfaces[0].hid: only for class hid (3) interfaces"]);
  });
});

describe("interfaces and associations", () => {
  test("an interface has no name unless given one; names are USB strings", () => {
    expect(Object.hasOwn(validateFunctionSpec(ONE, "t").interfaces[0]!, "name")).toBe(false);
    expect(validateFunctionSpec({ interfaces: [{ name: "x" }] }, "t").interfaces[0]!.name).toBe("x");
    expect(problems({ interfaces: [{ name: "n".repeat(127) }] })).toEqual(["interfaces[0].name: a USB string holds at most 126 UTF-16 units and no NUL"]);
  });

  test("numbers: the next one, or the predecessor's for an alternate setting", () => {
    const numbers = (itfs: Doc[]) => validateFunctionSpec({ interfaces: itfs }, "t").interfaces.map((i) => [i.number, i.alternate]);
    expect(numbers([{}, {}, { alternate: 1 }])).toEqual([
      [0, 0],
      [1, 0],
      [1, 1],
    ]);
    expect(numbers([{}, { alternate: 1 }, {}])).toEqual([
      [0, 0],
      [0, 1],
      [1, 0],
    ]);
  });

  test("none is an error", () => {
    expect(problems({ interfaces: [] })).toEqual(["interfaces: at least one interface is needed"]);
    expect(problems({})).toEqual(["interfaces: at least one interface is needed"]);
  });

  test("associations stay within the interfaces; a name only when given", () => {
    const a = (first: number, count: number, n = 2) => ({
      interfaces: Array.from({ length: n }, () => ({})),
      associations: [{ first_interface: first, count }],
    });
    expect(problems(a(0, 2))).toEqual([]);
    expect(problems(a(1, 1))).toEqual([]);
    expect(problems(a(1, 2))).toEqual(["associations[0]: covers interfaces 1..2, but there are 2"]);
    expect(problems(a(0, 3))).toEqual(["associations[0]: covers interfaces 0..2, but there are 2"]);
    const assoc = validateFunctionSpec(a(0, 2), "t").associations[0]!;
    expect(Object.hasOwn(assoc, "name")).toBe(false);
  });
});

describe("function flags and speeds", () => {
  test("defaults", () => {
    const s = validateFunctionSpec(ONE, "t");
    expect(s.flags).toStrictEqual({ virtualAddr: false, allCtrlRecip: false, config0Setup: false });
    expect(s.speeds).toEqual(["full", "high", "super"]);
    expect(validateFunctionSpec({ function: { speeds: ["super", "full"] }, ...ONE }, "t").speeds).toEqual(["full", "super"]);
  });

  test("speeds must be a non-empty list of known speeds", () => {
    for (const s of [[], "full", ["low"]])
      expect(problems({ function: { speeds: s }, ...ONE })).toEqual(["function.speeds: must be a non-empty list of full, high, super"]);
  });
});

describe("strings", () => {
  const LANGS = "en-US, en-GB, de-DE, fr-FR, es-ES, it-IT, ja-JP, zh-CN, zh-TW, ko-KR, pt-BR, ru-RU, nl-NL, sv-SE, pl-PL";

  test("languages: names or ids, not empty, not twice", () => {
    expect(validateFunctionSpec({ ...ONE, strings: { languages: ["de-DE", "0x40c"] } }, "t").languages).toEqual([0x0407, 0x040c]);
    expect(problems({ ...ONE, strings: { languages: ["xx-XX"] } })).toEqual([`strings.languages[0]: must be a language id or one of ${LANGS}, not "xx-XX"`]);
    expect(problems({ ...ONE, strings: { languages: [0x10000] } })).toEqual(["strings.languages[0]: 65536 is out of range (1..0xffff)"]);
    expect(problems({ ...ONE, strings: { languages: [] } })).toEqual(["strings.languages: must be a non-empty list"]);
    expect(problems({ ...ONE, strings: { languages: ["en-US", "en-US"] } })).toEqual(["strings.languages: a language is listed twice"]);
  });

  test("translations: per listed language, tables of USB strings", () => {
    const s = validateFunctionSpec({ ...ONE, strings: { languages: ["en-US", "de-DE"], translations: { "de-DE": { a: "b" } } } }, "t");
    expect(s.translations).toEqual({ 1031: { a: "b" } });
    expect(problems({ ...ONE, strings: { translations: { "de-DE": { a: "b" } } } })).toEqual(["strings.translations.de-DE: is not in strings.languages"]);
    expect(problems({ ...ONE, strings: { translations: { xx: { a: "b" } } } })).toEqual([
      `strings.translations.xx: must be a language id or one of ${LANGS}, not "xx"`,
    ]);
    expect(problems({ ...ONE, strings: { translations: { "en-US": "x" } } })).toEqual(["strings.translations.en-US: must be a table original = translation"]);
    for (const v of [5, "n".repeat(127)]) {
      expect(problems({ ...ONE, strings: { translations: { "en-US": { a: v } } } })).toEqual([
        "strings.translations.en-US.a: must be a USB string (at most 126 UTF-16 units)",
      ]);
    }
  });
});

describe("the error", () => {
  test("names the file and what it describes", () => {
    try {
      validateFunctionSpec({}, "gadget/f.toml");
      throw new Error("no error");
    } catch (e) {
      expect(e).toBeInstanceOf(DescriptionError);
      expect((e as Error).message).toBe("gadget/f.toml: invalid USB function description:\n  interfaces: at least one interface is needed");
    }
  });
});
