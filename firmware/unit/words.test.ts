import { describe, expect, test } from "bun:test";
import { cunescape, extractFirstWord, quoteWord, splitWords, WordError } from "./words.ts";

describe("systemd word rules", () => {
  test("splits on whitespace and removes quotes anywhere in a word", () => {
    expect(splitWords(`a "b c" d'e f'g`, { unquote: true })).toEqual(["a", "b c", "de fg"]);
    expect(splitWords("  a\tb  ", { unquote: true })).toEqual(["a", "b"]);
    expect(splitWords("", { unquote: true })).toEqual([]);
  });

  test("C escapes inside and outside quotes", () => {
    expect(splitWords(`"a\\tb" c\\x41 \\101 \\u00e9 x\\sy`, { unquote: true, cunescape: true })).toEqual(["a\tb", "cA", "A", "é", "x y"]);
    expect(cunescape("a\\nb\\\\c\\\"")).toBe('a\nb\\c"');
  });

  test("without cunescape a backslash escapes the next character", () => {
    expect(splitWords(`a\\ b "c\\"d"`, { unquote: true })).toEqual(["a b", 'c"d']);
  });

  test("unbalanced quotes and bad escapes are errors, relaxed mode keeps going", () => {
    expect(() => splitWords(`"abc`, { unquote: true })).toThrow(WordError);
    expect(() => splitWords(`\\q`, { unquote: true, cunescape: true })).toThrow(WordError);
    expect(() => splitWords(`\\x00`, { unquote: true, cunescape: true })).toThrow(/NUL/);
    expect(splitWords(`"abc`, { unquote: true, relax: true })).toEqual(["abc"]);
  });

  test("extractFirstWord reports where the rest begins", () => {
    const r = extractFirstWord("one two", 0, { unquote: true })!;
    expect(r.word).toBe("one");
    expect(extractFirstWord("one two", r.next, { unquote: true })!.word).toBe("two");
  });

  test("quoteWord round-trips", () => {
    for (const w of ["plain", "with space", 'q"uote', "back\\slash", "", "tab\there"]) {
      expect(splitWords(quoteWord(w), { unquote: true, cunescape: true })).toEqual([w]);
    }
  });
});
