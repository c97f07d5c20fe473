import { describe, expect, test } from "bun:test";
import { fnmatch, fnmatchRegExp, unitPatternRegExp } from "./fnmatch.ts";

describe("fnmatch without flags", () => {
  const cases: [string, string, boolean][] = [
    ["*", "a.service", true],
    ["avahi-daemon.*", "avahi-daemon.socket", true],
    ["avahi-daemon.*", "avahi-daemon2.socket", false],
    ["a?.service", "ab.service", true],
    ["a?.service", "a.service", false],
    ["[ab]*.service", "b1.service", true],
    ["[!ab]*.service", "b1.service", false],
    ["[!ab]*.service", "c1.service", true],
    ["[!ab]", "!", true],
    ["[ab]", "e", false],
    ["[^ab]*.service", "b1.service", false],
    ["[^ab]*.service", "c1.service", true],
    ["[a-c]", "b", true],
    ["[a-c]", "d", false],
    ["[]a]", "]", true],
    ["[a^]", "^", true],
    ["getty@.service", "getty@.service", true],
    ["getty@*.service", "getty@tty1.service", true],
    ["a.service", "aXservice", false],
    ["\\*.service", "*.service", true],
    ["\\*.service", "x.service", false],
    ["a\\", "a\\", true],
    ["[x", "[x", true],
    ["x[", "x[", true],
    ["(a|b)+$", "(a|b)+$", true],
    ["(a|b)+$", "a", false],
    ["*/x", "a/b/x", true],
    ["*", ".hidden", true],
  ];
  for (const [pattern, s, want] of cases) test(`${pattern} ${want ? "matches" : "does not match"} ${s}`, () => expect(fnmatch(pattern, s)).toBe(want));

  test("the whole string, not a part of it", () => {
    expect(fnmatch("b", "abc")).toBe(false);
    expect(fnmatch("a*", "xab")).toBe(false);
    expect(fnmatchRegExp("a?").source).toBe("^a.$");
  });
});

describe("FNM_NOESCAPE, and unit-name patterns", () => {
  test("a backslash is itself", () => {
    expect(fnmatch("\\*.service", "*.service", { noEscape: true })).toBe(false);
    expect(fnmatch("\\*.service", "\\x.service", { noEscape: true })).toBe(true);
    expect(unitPatternRegExp("dev-a\\x2db.*").test("dev-a\\x2db.device")).toBe(true);
    expect(unitPatternRegExp("dev-a\\x2db.*").test("dev-ax2db.device")).toBe(false);
  });
  test("the other characters are as without flags", () => {
    expect(unitPatternRegExp("web@?.service").test("web@1.service")).toBe(true);
    expect(unitPatternRegExp("[!ab].socket").test("c.socket")).toBe(true);
  });
});

test("FNM_CASEFOLD: letters match in either case; without it they do not", () => {
  expect(fnmatch("AB[c-d]*", "abD-1", { caseFold: true })).toBe(true);
  expect(fnmatch("AB[c-d]*", "abD-1")).toBe(false);
  expect(fnmatch("ab", "ab", { caseFold: false })).toBe(true);
});
