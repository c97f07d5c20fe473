import { describe, expect, test } from "bun:test";
import { growth } from "../testing/growth.ts";
import { cunescape, extractFirstWord, quoteWord, splitWords, WordError } from "./words.ts";

describe("systemd word rules", () => {
  test("splits on whitespace and removes quotes anywhere in a word", () => {
    expect(splitWords(`a "b c" d'e f'g`, { unquote: true })).toEqual(["a", "b c", "de fg"]);
    expect(splitWords("  a\tb  ", { unquote: true })).toEqual(["a", "b"]);
    expect(splitWords("", { unquote: true })).toEqual([]);
  });

  test("C escapes inside and outside quotes", () => {
    expect(splitWords(`"a\\tb" c\\x41 \\101 \\u00e9 x\\sy`, { unquote: true, cunescape: true })).toEqual(["a\tb", "cA", "A", "é", "x y"]);
    expect(cunescape('a\\nb\\\\c\\"')).toBe('a\nb\\c"');
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

describe("word rules on huge input", () => {
  test("a megabyte word with escapes is built from slices: linear, and the same result", () => {
    const word = "ab\\x41".repeat(150_000);
    const [w] = splitWords(word, { unquote: true, cunescape: true });
    expect(w).toBe("abA".repeat(150_000));
    // Linear, not quadratic: ten times the input takes about ten times as long (quadratic
    // would be about a hundred). A ratio, not a wall-clock bound: load and instrumentation
    // (mutation testing) slow both sides alike.
    const ratio = growth((n) => splitWords("ab\\x41".repeat(n), { unquote: true, cunescape: true }), 15_000);
    expect(ratio).toBeLessThan(35);
    expect(cunescape("x".repeat(1 << 20))).toHaveLength(1 << 20);
  });
});
