import { describe, expect, test } from "bun:test";
import {
  bool,
  child,
  choiceText,
  custom,
  DescriptionError,
  dflt,
  int,
  isTable,
  list,
  named,
  obj,
  oneOf,
  opt,
  problemText,
  record,
  refine,
  req,
  show,
  str,
  validate,
  Walk,
  type Problem,
  type Schema,
} from "./description-schema.ts";

/** The problems of validating `v`, or [] when it is valid. */
function problemsOf<T>(s: Schema<T>, v: unknown, lineOf?: (path: string) => number | undefined): Problem[] {
  try {
    validate(s, v, { source: "t.toml", kind: "test description", ...(lineOf ? { lineOf } : {}) });
    return [];
  } catch (e) {
    if (!(e instanceof DescriptionError)) throw e;
    return e.problems;
  }
}
const texts = <T>(s: Schema<T>, v: unknown) => problemsOf(s, v).map(problemText);

const server = obj({
  name: req(str({ pattern: /^[a-z]+$/, hint: "lower-case letters" })),
  port: dflt(int(1, 65535), 80),
  tls: dflt(bool, false),
  mode: opt(oneOf(["fast", "safe"] as const)),
  tags: dflt(list(str()), []),
  env: dflt(record(str({ empty: true }), { pattern: /^[A-Z_]+$/, message: "not a variable name" }), {}),
  limits: opt(obj({ cpu: req(int(1, 64)), memory: opt(int(1, 1 << 20, { hex: true })) })),
});

describe("description schema", () => {
  test("a valid value is read with its defaults, and typed", () => {
    const v = validate(server, { name: "web", tags: ["a"], env: { HOME: "" } }, { source: "s.toml", kind: "server" });
    expect(v).toEqual({ name: "web", port: 80, tls: false, mode: undefined, tags: ["a"], env: { HOME: "" }, limits: undefined });
    const port: number = v.port;
    expect(port).toBe(80);
  });

  test("every problem is collected, not just the first, each with its key path", () => {
    const bad = {
      name: "Web 1",
      port: 70000,
      tls: "yes",
      mode: "turbo",
      colour: "red",
      tags: ["ok", 3, ""],
      env: { HOME: 1, "bad key": "x" },
      limits: { cpu: 0, memory: 0x200000, extra: true },
    };
    expect(texts(server, bad)).toEqual([
      "colour: unknown setting",
      'name: "Web 1" is not valid (lower-case letters)',
      "port: 70000 is out of range (1..65535)",
      'tls: must be true or false, not "yes"',
      'mode: must be "fast" or "safe", not "turbo"',
      "tags[1]: must be a string, not 3",
      "tags[2]: must not be empty",
      "env.HOME: must be a string, not 1",
      'env."bad key": not a variable name',
      "limits.extra: unknown setting",
      "limits.cpu: 0 is out of range (1..64)",
      "limits.memory: 2097152 is out of range (1..0x100000)",
    ]);
  });

  test("missing keys and values of the wrong kind", () => {
    expect(texts(server, {})).toEqual(["name: missing (a string)"]);
    expect(texts(server, { name: "a", limits: {} })).toEqual(["limits.cpu: missing (an integer)"]);
    expect(texts(server, { name: "a", limits: [1], tags: "x", env: 3 })).toEqual([
      'tags: must be a list, not "x"',
      "env: must be a table, not 3",
      "limits: must be a table, not a list",
    ]);
    expect(texts(server, [])).toEqual(["must be a table, not a list"]);
    expect(texts(obj({ x: req(int(0, 1), "x is needed here") }), {})).toEqual(["x: x is needed here"]);
  });

  test("integers: whole numbers only; text forms only where allowed", () => {
    const n = int(0, 255);
    const t = int(0, 255, { text: true });
    expect(texts(n, 1.5)).toEqual(["must be an integer, not 1.5"]);
    expect(texts(n, "0x10")).toEqual(['must be an integer, not "0x10"']);
    expect(validate(t, "0x10", { source: "x", kind: "k" })).toBe(16);
    expect(validate(t, "17", { source: "x", kind: "k" })).toBe(17);
    expect(texts(t, "1e3")).toEqual(['must be an integer, not "1e3"']);
    expect(texts(t, -1)).toEqual(["-1 is out of range (0..255)"]);
  });

  test("wrong values fall back so the checks after them still run", () => {
    const s = refine(obj({ size: req(int(1, 10)), unit: dflt(oneOf(["kb", "mb"] as const), "kb") }), (v, w, path) => {
      if (v.unit === "kb" && v.size > 5) w.add(child(path, "size"), "at most 5 kb");
      return v.size;
    });
    // The unit is wrong and falls back to "kb"; the size rule still runs and reports too.
    expect(texts(s, { size: 8, unit: "gb" })).toEqual(['unit: must be "kb" or "mb", not "gb"', "size: at most 5 kb"]);
    // A missing size takes the schema's fallback (its minimum): no second problem about it.
    expect(texts(s, {})).toEqual(["size: missing (an integer)"]);
  });

  test("lists leave out unusable items; their problems keep the item's index", () => {
    const s = refine(list(obj({ id: req(int(0, 9)) })), (xs) => xs.length);
    expect(texts(s, [{ id: 1 }, 7, { id: 2 }, { id: 12 }])).toEqual(["[1]: must be a table, not 7", "[3].id: 12 is out of range (0..9)"]);
    expect(texts(list(int(0, 1), { nonEmpty: "needs one" }), [])).toEqual(["needs one"]);
    expect(texts(record(str()), JSON.parse('{"__proto__": "x", "a": "y"}'))).toEqual(["__proto__: is not a usable key"]);
  });

  test("named values, notes about particular wrong values, custom schemas", () => {
    const cls = named({ audio: 1, hid: 3 }, "a number or audio, hid", int(0, 255, { text: true }));
    expect(validate(cls, "hid", { source: "x", kind: "k" })).toBe(3);
    expect(validate(cls, "0x20", { source: "x", kind: "k" })).toBe(32);
    expect(texts(cls, "video")).toEqual(['must be a number or audio, hid, not "video"']);
    expect(texts(cls, "toString")).toEqual(['must be a number or audio, hid, not "toString"']);
    expect(texts(oneOf(["a", "b", "c"], { notes: { d: "d was removed" } }), "d")).toEqual(['must be "a", "b" or "c", not "d" (d was removed)']);
    const even = custom(
      "an even number",
      (v, w, p) => (typeof v === "number" && v % 2 === 0 ? v : (w.add(p, "must be even"), undefined)),
      () => 0,
    );
    expect(texts(obj({ n: req(even) }), { n: 3 })).toEqual(["n: must be even"]);
    expect(texts(obj({ n: req(even) }), {})).toEqual(["n: missing (an even number)"]);
  });

  test("a schema used at a path inside a larger file", () => {
    try {
      validate(server, { name: "x", port: 0 }, { source: "board.toml", kind: "server", at: "gadget" });
      throw new Error("should fail");
    } catch (e) {
      expect((e as DescriptionError).problems).toEqual([{ path: "gadget.port", message: "0 is out of range (1..65535)" }]);
    }
  });

  test("the error names the file and kind, and each problem's line where known", () => {
    const lines: Record<string, number> = { name: 2, port: 3 };
    try {
      validate(server, { name: "A", port: 0, tls: 1 }, { source: "srv.toml", kind: "server description", lineOf: (p) => lines[p] });
      throw new Error("should fail");
    } catch (e) {
      expect(e).toBeInstanceOf(DescriptionError);
      const d = e as DescriptionError;
      expect(d.source).toBe("srv.toml");
      expect(d.problems).toEqual([
        { path: "name", message: '"A" is not valid (lower-case letters)', line: 2 },
        { path: "port", message: "0 is out of range (1..65535)", line: 3 },
        { path: "tls", message: "must be true or false, not 1" },
      ]);
      expect(d.message).toBe(
        'srv.toml: invalid server description:\n  name: "A" is not valid (lower-case letters) (line 2)\n  port: 0 is out of range (1..65535) (line 3)\n  tls: must be true or false, not 1',
      );
    }
  });

  test("helpers: tables, paths, values in messages", () => {
    expect([isTable({}), isTable(Object.create(null)), isTable([]), isTable(null), isTable(new Uint8Array(1)), isTable(new Date(0))]).toEqual([
      true,
      true,
      false,
      false,
      false,
      false,
    ]);
    expect([child("", "a"), child("a", "b-c"), child("a", "0x409"), child("a", "x y"), child("a", 'q"')]).toEqual([
      "a",
      "a.b-c",
      "a.0x409",
      'a."x y"',
      'a."q\\""',
    ]);
    expect([show("s"), show(1), show(true), show([]), show({}), show(undefined), show(null), show(new Date(0))]).toEqual([
      '"s"',
      "1",
      "true",
      "a list",
      "a table",
      "nothing",
      "null",
      "date",
    ]);
    expect([choiceText(["a"]), choiceText(["a", "b"]), choiceText(["a", "b", "c"])]).toEqual(['"a"', '"a" or "b"', '"a", "b" or "c"']);
    const w = new Walk();
    w.add("a.b[1]", "x");
    expect([w.failed("a"), w.failed("a.b"), w.failed("a.b[1]"), w.failed("a.bc"), w.failed("c")]).toEqual([true, true, true, false, false]);
  });
});
