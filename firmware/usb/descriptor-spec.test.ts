import { describe, expect, test } from "bun:test";
import { DescriptionError, problemText } from "../lib/description-schema.ts";
import { parseFunctionSpec, validateFunctionSpec, type FunctionSpec } from "./descriptor-spec.ts";
import { errorText } from "../core/errors.ts";

/** The problems of a function with these endpoints at these speeds ([] when it is valid). */
function problems(endpoints: Record<string, unknown>[], speeds?: string[]): string[] {
  try {
    validateFunctionSpec({ ...(speeds ? { function: { speeds } } : {}), interfaces: [{ endpoints }] }, "t.toml");
    return [];
  } catch (e) {
    if (!(e instanceof DescriptionError)) throw e;
    return e.problems.map(problemText);
  }
}
const EP = "interfaces[0].endpoints[0]";
const bulk = (more: Record<string, unknown>) => ({ number: 1, direction: "in", type: "bulk", ...more });
const intr = (more: Record<string, unknown>) => ({ number: 1, direction: "in", type: "interrupt", ...more });
const iso = (more: Record<string, unknown>) => ({ number: 1, direction: "in", type: "isochronous", ...more });

describe("endpoint limits per speed (USB 2.0 / 3.2 9.6.6)", () => {
  test("full-speed bulk: 8, 16, 32 or 64 bytes", () => {
    for (const n of [8, 16, 32, 64]) expect(problems([bulk({ max_packet: { full: n } })], ["full"])).toEqual([]);
    expect(problems([bulk({ max_packet: { full: 100 } })], ["full"])).toEqual([
      `${EP}.max_packet.full: full-speed bulk endpoints use 8, 16, 32 or 64 bytes, not 100`,
    ]);
    expect(problems([bulk({ max_packet: { full: 100 } })], ["high", "super"])).toEqual([]);
  });

  test("full-speed interrupt: at most 64 bytes", () => {
    expect(problems([intr({ max_packet: { full: 64 } })], ["full"])).toEqual([]);
    expect(problems([intr({ max_packet: { full: 65 } })], ["full"])).toEqual([`${EP}.max_packet.full: full-speed interrupt endpoints use at most 64 bytes`]);
    expect(problems([intr({ max_packet: { full: 65 } })], ["high", "super"])).toEqual([]);
  });

  test("full-speed isochronous: at most 1023 bytes", () => {
    expect(problems([iso({ max_packet: { full: 1023 } })], ["full"])).toEqual([]);
    expect(problems([iso({ max_packet: { full: 1024 } })], ["full"])).toEqual([
      `${EP}.max_packet.full: full-speed isochronous endpoints use at most 1023 bytes`,
    ]);
    expect(problems([iso({ max_packet: { full: 1024 } })], ["high", "super"])).toEqual([]);
  });

  test("high-speed bulk: 512 bytes", () => {
    expect(problems([bulk({ max_packet: { high: 512 } })], ["high"])).toEqual([]);
    expect(problems([bulk({ max_packet: { high: 256 } })], ["high"])).toEqual([`${EP}.max_packet.high: high-speed bulk endpoints use 512 bytes, not 256`]);
    expect(problems([bulk({ max_packet: { high: 256 } })], ["full", "super"])).toEqual([]);
  });

  test("SuperSpeed bulk: 1024 bytes", () => {
    expect(problems([bulk({ max_packet: { super: 1024 } })], ["super"])).toEqual([]);
    expect(problems([bulk({ max_packet: { super: 512 } })], ["super"])).toEqual([`${EP}.max_packet.super: SuperSpeed bulk endpoints use 1024 bytes, not 512`]);
    expect(problems([bulk({ max_packet: { super: 512 } })], ["full", "high"])).toEqual([]);
  });

  test("interrupt intervals: 1..255 ms at full speed, 1..16 at high speed and SuperSpeed", () => {
    for (const n of [1, 255]) expect(problems([intr({ interval: { full: n } })], ["full"])).toEqual([]);
    expect(problems([intr({ interval: { full: 0 } })], ["full"])).toEqual([`${EP}.interval.full: full-speed interrupt intervals are 1..255 ms`]);
    for (const s of ["high", "super"] as const) {
      for (const n of [1, 16]) expect(problems([intr({ interval: { [s]: n } })], [s])).toEqual([]);
      const msg = s === "high" ? "high-speed interrupt intervals are 1..16 (2^(n-1) microframes)" : "SuperSpeed interrupt intervals are 1..16";
      for (const n of [0, 17]) expect(problems([intr({ interval: { [s]: n } })], [s])).toEqual([`${EP}.interval.${s}: ${msg}`]);
    }
    // Only the speeds the function runs at are checked.
    expect(problems([intr({ interval: { full: 0, high: 17 } })], ["super"])).toEqual([]);
    expect(problems([intr({ interval: { super: 0 } })], ["full", "high"])).toEqual([]);
  });

  test("isochronous intervals: 1..16 at every speed the function runs at", () => {
    for (const s of ["full", "high", "super"] as const) {
      for (const n of [1, 16]) expect(problems([iso({ interval: { [s]: n } })], [s])).toEqual([]);
      for (const n of [0, 17]) expect(problems([iso({ interval: { [s]: n } })], [s])).toEqual([`${EP}.interval.${s}: isochronous intervals are 1..16`]);
    }
    expect(problems([iso({ interval: { full: 0 } })], ["high"])).toEqual([]);
  });

  test("bulk endpoints have no interval to check", () => {
    expect(problems([bulk({ interval: 0 })])).toEqual([]);
    expect(problems([bulk({ interval: 200 })])).toEqual([]);
  });
});

describe("endpoint settings", () => {
  test("addresses: bits 4..6 zero, never endpoint 0, direction agrees", () => {
    expect(problems([{ address: 0x81, type: "bulk" }])).toEqual([]);
    expect(problems([{ address: 0x91, type: "bulk" }])).toEqual([`${EP}.address: bits 4..6 must be zero`]);
    expect(problems([{ address: "0x80", type: "bulk" }])).toEqual([`${EP}: endpoint 0 is the control endpoint; use 1..15`]);
    expect(problems([{ address: 0x81, direction: "out", type: "bulk" }])).toEqual([`${EP}.direction: contradicts address 0x81`]);
    expect(problems([{ address: 0x81, direction: "in", type: "bulk" }])).toEqual([]);
  });

  test("numbers 1..15, a direction, a type", () => {
    expect(problems([bulk({ number: 15 })])).toEqual([]);
    expect(problems([bulk({ number: 16 })])).toEqual([`${EP}.number: 16 is out of range (1..15)`]);
    expect(problems([bulk({ number: 0 })])).toEqual([`${EP}.number: 0 is out of range (1..15)`, `${EP}: endpoint 0 is the control endpoint; use 1..15`]);
    expect(problems([{ type: "bulk" }])).toEqual([`${EP}.number: missing (an integer)`, `${EP}.direction: missing ("in" or "out")`]);
    expect(problems([{ number: 1, direction: "in" }])).toEqual([`${EP}.type: missing ("bulk", "interrupt" or "isochronous")`]);
  });

  test("sync and usage only on isochronous endpoints; mult not on bulk ones", () => {
    expect(problems([iso({ sync: "async", usage: "feedback" })])).toEqual([]);
    expect(problems([bulk({ sync: "async" })])).toEqual([`${EP}: sync and usage apply to isochronous endpoints only`]);
    expect(problems([intr({ usage: "data" })])).toEqual([`${EP}: sync and usage apply to isochronous endpoints only`]);
    expect(problems([iso({ sync: "sometimes" })])).toEqual([`${EP}.sync: must be none, async, adaptive or sync, not "sometimes"`]);
    expect(problems([intr({ mult: 2 })])).toEqual([]);
    expect(problems([bulk({ mult: 1 })])).toEqual([`${EP}.mult: bulk endpoints have no high-bandwidth mult`]);
  });

  test("ranges of the numbers: packet sizes, intervals, mult, SuperSpeed companion", () => {
    expect(problems([iso({ max_packet: 0 })], ["super"])).toEqual([`${EP}.max_packet: 0 is out of range (1..1024)`]);
    expect(problems([iso({ max_packet: 1025 })], ["super"])).toEqual([`${EP}.max_packet: 1025 is out of range (1..1024)`]);
    expect(problems([bulk({ interval: 256 })])).toEqual([`${EP}.interval: 256 is out of range (0..255)`]);
    expect(problems([intr({ mult: 3 })])).toEqual([`${EP}.mult: 3 is out of range (0..2)`]);
    expect(problems([bulk({ burst: 15, max_streams: 16 })])).toEqual([]);
    expect(problems([bulk({ burst: 16 })])).toEqual([`${EP}.burst: 16 is out of range (0..15)`]);
    expect(problems([bulk({ max_streams: 17 })])).toEqual([`${EP}.max_streams: 17 is out of range (0..16)`]);
    expect(problems([iso({ bytes_per_interval: 0xffff })])).toEqual([]);
    expect(problems([iso({ bytes_per_interval: 0x10000 })])).toEqual([`${EP}.bytes_per_interval: 65536 is out of range (0..65535)`]);
    expect(problems([bulk({ max_packet: { warp: 1 } })])).toEqual([`${EP}.max_packet.warp: unknown speed (full, high, super)`]);
  });

  test("defaults follow the type", () => {
    const spec = validateFunctionSpec({ interfaces: [{ endpoints: [bulk({}), intr({ number: 2 }), iso({ number: 3 })] }] }, "d.toml");
    const [b, i, s] = spec.interfaces[0]!.endpoints;
    expect(b).toMatchObject({
      maxPacket: { full: 64, high: 512, super: 1024 },
      interval: { full: 0, high: 0, super: 0 },
      bytesPerInterval: 0,
      burst: 0,
      maxStreams: 0,
      mult: 0,
      sync: 0,
      usage: 0,
    });
    expect(i).toMatchObject({ maxPacket: { full: 64, high: 64, super: 64 }, interval: { full: 10, high: 4, super: 4 }, bytesPerInterval: 64 });
    expect(s).toMatchObject({ maxPacket: { full: 1023, high: 1024, super: 1024 }, interval: { full: 1, high: 1, super: 1 }, bytesPerInterval: 1024 });
    const one = validateFunctionSpec({ interfaces: [{ endpoints: [intr({ max_packet: 8, interval: "0x2" })] }] }, "d.toml").interfaces[0]!.endpoints[0]!;
    expect(one).toMatchObject({ maxPacket: { full: 8, high: 8, super: 8 }, interval: { full: 2, high: 2, super: 2 } });
  });
});

describe("endpoints across interfaces", () => {
  test("an address is used once, except by alternate settings of its interface", () => {
    expect(problems([bulk({}), bulk({})])).toEqual([`interfaces[0].endpoints[1]: endpoint 0x81 is already used by ${EP}`]);
    const alt: FunctionSpec = validateFunctionSpec({ interfaces: [{ endpoints: [bulk({})] }, { number: 0, alternate: 1, endpoints: [bulk({})] }] }, "a.toml");
    expect(alt.interfaces.map((i) => [i.number, i.alternate])).toEqual([
      [0, 0],
      [0, 1],
    ]);
  });

  test("at most 30 endpoints", () => {
    const eps = (n: number) => Array.from({ length: n }, (_, k) => bulk({ number: (k % 15) + 1, direction: k < 15 ? "in" : "out" }));
    const itfs = (n: number) => ({
      interfaces: [{ endpoints: eps(Math.min(n, 30)) }, { endpoints: eps(n - Math.min(n, 30)).map((e) => ({ ...e })) }].filter((i) => i.endpoints.length),
    });
    expect(() => validateFunctionSpec(itfs(30), "x.toml")).not.toThrow();
    const err = (() => {
      try {
        validateFunctionSpec(itfs(31), "x.toml");
      } catch (e) {
        return e as DescriptionError;
      }
    })();
    expect(err?.problems.map(problemText)).toContain("interfaces: FunctionFS supports at most 30 endpoints, this function has 31");
  });
});

describe("problems name their line in the file", () => {
  test("TOML: the line of the key, or of the table for a missing key", () => {
    const text = `[function]\nspeeds = ["full"]\n\n[[interfaces]]\nclass = "vendor"\n[[interfaces.endpoints]]\nnumber = 1\ndirection = "in"\ntype = "bulk"\nmax_packet = 100\n[[interfaces.endpoints]]\nnumber = 2\ntype = "bulk"\n`;
    try {
      parseFunctionSpec(text, "l.toml");
      throw new Error("should fail");
    } catch (e) {
      expect((e as DescriptionError).problems).toEqual([
        { path: "interfaces[0].endpoints[0].max_packet.full", message: "full-speed bulk endpoints use 8, 16, 32 or 64 bytes, not 100", line: 10 },
        { path: "interfaces[0].endpoints[1].direction", message: 'missing ("in" or "out")', line: 11 },
      ]);
      expect(errorText(e)).toBe(
        'l.toml: invalid USB function description:\n  interfaces[0].endpoints[0].max_packet.full: full-speed bulk endpoints use 8, 16, 32 or 64 bytes, not 100 (line 10)\n  interfaces[0].endpoints[1].direction: missing ("in" or "out") (line 11)',
      );
    }
  });

  test("JSON: the line of the key", () => {
    const text = JSON.stringify({ interfaces: [{ endpoints: [{ number: 1, direction: "up", type: "bulk" }] }] }, null, 2);
    const line = text.split("\n").findIndex((l) => l.includes('"up"')) + 1;
    expect(() => parseFunctionSpec(text, "l.json")).toThrow(`interfaces[0].endpoints[0].direction: must be "in" or "out", not "up" (line ${line})`);
  });

  test("syntax errors: TOML and JSON", () => {
    expect(() => parseFunctionSpec('[[interfaces]]\nclass = "vendor"\nname = \n', "s.toml")).toThrow(
      /^s\.toml: invalid USB function description:\n {2}TOML syntax: .* \(line 3\)$/,
    );
    expect(() => parseFunctionSpec('{\n  "interfaces": [\n    {"class": vendor}\n  ]\n}', "s.json")).toThrow(
      /^s\.json: invalid USB function description:\n {2}JSON syntax: .* \(line 3\)$/,
    );
  });
});

describe("HID version (bcdHID)", () => {
  const hidData = (version: string) =>
    [...validateFunctionSpec({ interfaces: [{ class: "hid", hid: { version, report_length: 8 } }] }, "t").interfaces[0]!.classDescriptors[0]!.data].slice(0, 2);
  test("both bytes are binary-coded decimal, little-endian: 1.11 -> 0x0111, 10.01 -> 0x1001", () => {
    expect(hidData("1.11")).toEqual([0x11, 0x01]);
    expect(hidData("10.01")).toEqual([0x01, 0x10]);
    expect(hidData("99.99")).toEqual([0x99, 0x99]);
  });
  test("a major version of three digits does not fit a BCD byte: refused", () => {
    expect(() => validateFunctionSpec({ interfaces: [{ class: "hid", hid: { version: "100.01", report_length: 8 } }] }, "t")).toThrow(
      'interfaces[0].hid.version: "100.01" is not valid (like "1.11")',
    );
  });
});
