import { describe, expect, test } from "bun:test";
import { readDescription, tomlErrorLine, validateDescription } from "./config-text.ts";
import { child, DescriptionError, int, list, obj, opt, record, req, str } from "./description-schema.ts";
import { jsonErrorLine, jsonKeyLines, lineOf, parentPath, tomlKeyLines } from "./key-lines.ts";
import { errorText } from "../core/errors.ts";

const TOML = `# a comment
title = "x"   # trailing comment
[owner]
name = "a"
"quoted key" = 1
dotted.inner = 2

[[items]]
id = 1
tags = [
  "a",   # one
  "b",
]
[[items.parts]]
n = 1
[[items.parts]]
n = 2
point = { x = 1, y = { z = 3 } }
[[items]]
id = 2
text = """
several
lines"""
[[items.parts]]
n = 3
[strings.0x409]
product = 'literal \\ with backslash'
`;

describe("key lines", () => {
  test("TOML: tables, array tables (nested ones counted per parent), keys, dotted and quoted keys, list items", () => {
    const m = tomlKeyLines(TOML);
    expect(Object.fromEntries(m)).toEqual({
      title: 2,
      owner: 3,
      "owner.name": 4,
      'owner."quoted key"': 5,
      "owner.dotted.inner": 6,
      items: 8,
      "items[0]": 8,
      "items[0].id": 9,
      "items[0].tags": 10,
      "items[0].tags[0]": 11,
      "items[0].tags[1]": 12,
      "items[0].parts": 14,
      "items[0].parts[0]": 14,
      "items[0].parts[0].n": 15,
      "items[0].parts[1]": 16,
      "items[0].parts[1].n": 17,
      "items[0].parts[1].point": 18,
      "items[0].parts[1].point.x": 18,
      "items[0].parts[1].point.y": 18,
      "items[0].parts[1].point.y.z": 18,
      "items[1]": 19,
      "items[1].id": 20,
      "items[1].text": 21,
      "items[1].parts": 24,
      "items[1].parts[0]": 24,
      "items[1].parts[0].n": 25,
      "strings.0x409": 26,
      "strings.0x409.product": 27,
    });
    // The document Bun reads agrees on the shape.
    const doc = Bun.TOML.parse(TOML) as { items: { parts: unknown[] }[] };
    expect(doc.items.map((i) => i.parts.length)).toEqual([2, 1]);
  });

  test("JSON: every key and list item; strings with escapes", () => {
    const text = '{\n  "a": 1,\n  "b\\"q": [\n    {"c": "x\\ny"},\n    true\n  ],\n  "d": {}\n}';
    expect(JSON.parse(text)).toBeTruthy();
    const Q = child("", 'b"q'); // a key that is not a plain name is quoted in paths
    expect(Object.fromEntries(jsonKeyLines(text))).toEqual({ "": 1, a: 2, [Q]: 3, [`${Q}[0]`]: 4, [`${Q}[0].c`]: 4, [`${Q}[1]`]: 5, d: 7 });
  });

  test("the line of a path is its own, or its nearest enclosing key's", () => {
    const m = tomlKeyLines(TOML);
    expect(lineOf(m, "items[0].parts[1].n")).toBe(17);
    expect(lineOf(m, "items[0].parts[1].missing")).toBe(16);
    expect(lineOf(m, "items[1].text.deeper[3]")).toBe(21);
    expect(lineOf(m, 'owner."quoted key".x')).toBe(5);
    expect(lineOf(m, "nowhere.x")).toBeUndefined();
    expect(lineOf(m, "")).toBeUndefined();
    expect(lineOf(new Map([["", 1]]), "")).toBe(1);
    expect(lineOf(new Map([["", 1]]), "a")).toBeUndefined();
    expect(["a.b[2]", "a.b", "a", 'a."x.y"', "[0].c", "[0]", ""].map(parentPath)).toEqual(["a.b", "a", "", "a", "[0]", "", ""]);
  });

  test("syntax error lines", () => {
    expect(tomlErrorLine('a = 1\nb = "ok"\nc = = 3\nd = 4')).toBe(3);
    expect(tomlErrorLine("a = 1")).toBeNull();
    expect(jsonErrorLine('{\n  "a": 1,\n  "b": tru\n}')).toBe(3);
    expect(jsonErrorLine('{\n  "a": "x\ty"\n}')).toBe(2);
    expect(jsonErrorLine('{\n  "a": "\\q"\n}')).toBe(2);
    expect(jsonErrorLine('{"a": 1}\n\nx')).toBe(3);
    expect(jsonErrorLine('{"a": 01}')).toBe(1);
    expect(jsonErrorLine('{"a": [1, 2]}')).toBeNull();
  });

  test("text the scanners cannot follow gives the lines found so far, never an exception", () => {
    expect(tomlKeyLines("a = 1\n= broken\n").get("a")).toBe(1);
    expect(jsonKeyLines('{"a": ').size).toBe(0);
    for (const t of ["", "[", "[[", "a", 'a = "', "a = [1,", "a = {", "'''", "x = '''\n"]) expect(() => tomlKeyLines(t)).not.toThrow();
  });
});

describe("reading a description", () => {
  const schema = obj({ name: req(str()), items: opt(list(obj({ id: req(int(1, 9)) }))), env: opt(record(str())) });

  test("problems carry the line of their key in TOML and JSON files", () => {
    const toml = readDescription('name = "x"\n[[items]]\nid = 1\n[[items]]\nid = 10\n[[items]]\n', "d.toml", "thing");
    try {
      validateDescription(toml, schema);
      throw new Error("should fail");
    } catch (e) {
      expect((e as DescriptionError).problems).toEqual([
        { path: "items[1].id", message: "10 is out of range (1..9)", line: 5 },
        { path: "items[2].id", message: "missing (an integer)", line: 6 },
      ]);
    }
    const json = readDescription('{\n  "env": {"A": 1},\n  "items": "no"\n}', "d.json", "thing");
    expect(() => validateDescription(json, schema)).toThrow(
      'd.json: invalid thing:\n  name: missing (a string)\n  items: must be a list, not "no" (line 3)\n  env.A: must be a string, not 1 (line 2)',
    );
  });

  test("a part of the file validated at its path", () => {
    const d = readDescription("[board]\nx = 1\n[gadget]\nname = 3\n", "b.toml", "gadget configuration");
    const part = (d.doc as Record<string, unknown>).gadget;
    expect(() => validateDescription(d, schema, { path: "gadget", value: part })).toThrow(
      "b.toml: invalid gadget configuration:\n  gadget.name: must be a string, not 3 (line 4)",
    );
  });

  test("syntax errors are DescriptionErrors with the line", () => {
    for (const [text, file, line] of [
      ["a = 1\nb =\n", "s.toml", 2],
      ['{\n"a": }', "s.json", 2],
    ] as const) {
      try {
        readDescription(text, file, "thing");
        throw new Error("should fail");
      } catch (e) {
        expect(e).toBeInstanceOf(DescriptionError);
        const [p] = (e as DescriptionError).problems;
        expect(p).toMatchObject({ path: "", line });
        expect(p!.message).toStartWith(file.endsWith(".json") ? "JSON syntax: " : "TOML syntax: ");
        expect(errorText(e)).toStartWith(`${file}: invalid thing:\n  `);
      }
    }
  });
});
