import { describe, expect, test } from "bun:test";
import {
  escapeUnitPath,
  escapeUnitString,
  instantiate,
  isInstance,
  isTemplate,
  isValidUnitName,
  parseUnitName,
  unescapeUnitPath,
  unescapeUnitString,
} from "./unit-name.ts";

describe("unit name syntax", () => {
  test("at most 255 characters", () => {
    const longest = `${"x".repeat(247)}.service`;
    expect(longest.length).toBe(255);
    expect(isValidUnitName(longest)).toBe(true);
    expect(isValidUnitName(`x${longest}`)).toBe(false);
  });

  test("prefix and instance characters", () => {
    expect(isValidUnitName("foo@a:b-c_d.e\\x20@f.service")).toBe(true);
    for (const bad of ["a b@x.service", "a/b@x.service", "foo@a b.service", "foo@éa.service", "foo@aé.service", ".service", "@.service", "@x.service"]) {
      expect(isValidUnitName(bad)).toBe(false);
    }
  });

  test("templates and instances", () => {
    const plain = parseUnitName("foo.service")!;
    const template = parseUnitName("foo@.service")!;
    const instance = parseUnitName("foo@bar.service")!;
    expect([isTemplate(plain), isTemplate(template), isTemplate(instance)]).toEqual([false, true, false]);
    expect([isInstance(plain), isInstance(template), isInstance(instance)]).toEqual([false, false, true]);
  });

  test("only a template can be instantiated", () => {
    for (const t of ["foo.service", "foo@bar.service", "bad"]) expect(() => instantiate(t, "x")).toThrow(`${t} is not a template`);
  });
});

describe("escaping", () => {
  test("a leading dot and other bytes become \\xNN with two digits", () => {
    expect(escapeUnitString(".hidden")).toBe("\\x2ehidden");
    expect(escapeUnitString("a.b:c_d")).toBe("a.b:c_d");
    expect(escapeUnitString("\t")).toBe("\\x09");
    expect(escapeUnitString("é")).toBe("\\xc3\\xa9");
  });

  test("paths: repeated and outer slashes drop", () => {
    expect(escapeUnitPath("//dev//sda/")).toBe("dev-sda");
    expect(escapeUnitPath("///")).toBe("-");
  });

  test("unescaping keeps what is not a full \\xNN", () => {
    expect(unescapeUnitString("a\\x2")).toBe("a\\x2");
    expect(unescapeUnitString("\\xzz")).toBe("\\xzz");
    expect(unescapeUnitString("x41")).toBe("x41");
    expect(unescapeUnitString("ax41")).toBe("ax41");
    expect(unescapeUnitString("\\y41")).toBe("\\y41");
    expect(unescapeUnitString("\\x41\\x4a")).toBe("AJ");
    expect(unescapeUnitString("\\xc3\\xa9")).toBe("é");
    expect(unescapeUnitPath("-")).toBe("/");
    expect(unescapeUnitPath("a")).toBe("/a");
  });
});
