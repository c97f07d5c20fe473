import { describe, expect, test } from "bun:test";
import { cunescape, cunescapeOne, extractFirstWord, quoteWord, splitWords, WordError } from "./words.ts";

function wordError(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(WordError);
    expect((e as Error).name).toBe("WordError");
    return (e as Error).message;
  }
  throw new Error("no WordError thrown");
}

describe("C escapes", () => {
  test("every single-character escape", () => {
    const table: [string, string][] = [
      ["a", "\x07"],
      ["b", "\b"],
      ["f", "\f"],
      ["n", "\n"],
      ["r", "\r"],
      ["t", "\t"],
      ["v", "\v"],
      ["\\", "\\"],
      ['"', '"'],
      ["'", "'"],
      ["s", " "],
    ];
    for (const [c, v] of table) expect(cunescapeOne(`\\${c}z`, 1)).toEqual([v, 1]);
  });

  test("\\xNN: two hex digits, not NUL", () => {
    expect(cunescapeOne("x41z", 0)).toEqual(["A", 3]);
    expect(cunescapeOne("xfF", 0)).toEqual(["\xff", 3]);
    expect(wordError(() => cunescapeOne("x4", 0))).toBe('invalid escape "\\x4"');
    expect(wordError(() => cunescapeOne("xg1", 0))).toBe('invalid escape "\\xg1"');
    expect(wordError(() => cunescapeOne("x00", 0))).toBe("\\x00 (NUL) is not allowed");
  });

  test("\\uNNNN and \\UNNNNNNNN: a code point, not NUL or a surrogate", () => {
    expect(cunescapeOne("u00e9z", 0)).toEqual(["é", 5]);
    expect(cunescapeOne("U0001F600", 0)).toEqual(["😀", 9]);
    expect(cunescapeOne("U0010ffff", 0)).toEqual([String.fromCodePoint(0x10ffff), 9]);
    expect(cunescapeOne("ud7ff", 0)).toEqual([String.fromCodePoint(0xd7ff), 5]);
    expect(cunescapeOne("ue000", 0)).toEqual([String.fromCodePoint(0xe000), 5]);
    expect(wordError(() => cunescapeOne("u00e", 0))).toBe('invalid escape "\\u00e"');
    expect(wordError(() => cunescapeOne("u00eg", 0))).toBe('invalid escape "\\u00eg"');
    expect(wordError(() => cunescapeOne("ug0e9", 0))).toBe('invalid escape "\\ug0e9"');
    expect(wordError(() => cunescapeOne("U0001F60", 0))).toBe('invalid escape "\\U0001F60"');
    for (const h of ["u0000", "ud800", "udfff", "U00110000"]) expect(wordError(() => cunescapeOne(h, 0))).toBe(`invalid code point in "\\${h}"`);
  });

  test("octal: three digits up to 377, not NUL", () => {
    expect(cunescapeOne("101z", 0)).toEqual(["A", 3]);
    expect(cunescapeOne("377", 0)).toEqual(["\xff", 3]);
  });
});

describe("octal and unknown escapes", () => {
  test("errors", () => {
    expect(wordError(() => cunescapeOne("7", 0))).toBe('invalid octal escape "\\7"');
    expect(wordError(() => cunescapeOne("18", 0))).toBe('invalid octal escape "\\18"');
    expect(wordError(() => cunescapeOne("400", 0))).toBe('invalid octal escape "\\400"');
    expect(wordError(() => cunescapeOne("000", 0))).toBe("\\000 (NUL) is not allowed");
    expect(wordError(() => cunescapeOne("8", 0))).toBe('invalid escape "\\8"');
    expect(wordError(() => cunescapeOne("q", 0))).toBe('invalid escape "\\q"');
    for (const c of ["!", " ", "/"]) expect(wordError(() => cunescapeOne(`${c}00`, 0))).toBe(`invalid escape "\\${c}"`);
    expect(wordError(() => cunescapeOne("", 0))).toBe("trailing backslash");
  });

  test("cunescape of a whole string", () => {
    expect(cunescape("plain")).toBe("plain");
    expect(cunescape("a\\tb\\x41\\\\")).toBe("a\tbA\\");
    expect(cunescape("\\n")).toBe("\n");
    expect(cunescape("ab\\ncd\\sef")).toBe("ab\ncd ef");
  });
});

describe("words", () => {
  test("separators, default whitespace or given", () => {
    expect(splitWords(" \t a\tb\nc\rd  ")).toEqual(["a", "b", "c", "d"]);
    expect(splitWords("a:b::c", { separators: ":" })).toEqual(["a", "b", "c"]);
    expect(splitWords("a b:c", { separators: ":" })).toEqual(["a b", "c"]);
    expect(extractFirstWord("  ", 0)).toBeNull();
    expect(extractFirstWord("ab cd", 2)).toEqual({ word: "cd", next: 5 });
    expect(extractFirstWord("ab cd", 0)).toEqual({ word: "ab", next: 2 });
  });

  test("without unquote, quotes stay and a backslash keeps itself before the next character", () => {
    expect(splitWords(`"a b" c`)).toEqual(['"a', 'b"', "c"]);
    expect(splitWords("a\\ b")).toEqual(["a\\", "b"]);
    expect(splitWords("a\\qb")).toEqual(["a\\qb"]);
  });

  test("unquote: quotes anywhere in a word; escapes inside quotes", () => {
    expect(splitWords(`a"b c"d 'e f'`, { unquote: true })).toEqual(["ab cd", "e f"]);
    expect(splitWords(`"a\\"b" 'c\\'d'`, { unquote: true })).toEqual(['a"b', "c'd"]);
    expect(splitWords(`"a\\qb"`, { unquote: true })).toEqual(["aqb"]);
    expect(splitWords("a\\ b", { unquote: true })).toEqual(["a b"]);
    expect(splitWords(`"" x`, { unquote: true })).toEqual(["", "x"]);
  });

  test("unquote and cunescape together", () => {
    expect(splitWords(`"a\\tb" c\\x41 'd\\ne'`, { unquote: true, cunescape: true })).toEqual(["a\tb", "cA", "d\ne"]);
    expect(wordError(() => splitWords(`"a\\qb"`, { unquote: true, cunescape: true }))).toBe('invalid escape "\\q"');
  });

  test("unbalanced quotes and trailing backslashes: errors, or kept with relax", () => {
    expect(wordError(() => splitWords(`a "b`, { unquote: true }))).toBe('unbalanced quoting (missing closing ")');
    expect(wordError(() => splitWords(`a 'b`, { unquote: true }))).toBe("unbalanced quoting (missing closing ')");
    expect(splitWords(`a "b c`, { unquote: true, relax: true })).toEqual(["a", "b c"]);
    expect(wordError(() => splitWords("a\\"))).toBe("trailing backslash");
    expect(wordError(() => splitWords(`"a\\`, { unquote: true }))).toBe("trailing backslash");
    expect(splitWords("a\\", { relax: true })).toEqual(["a\\"]);
    expect(splitWords("a\\", { unquote: true, cunescape: true, relax: true })).toEqual(["a\\"]);
  });
});

describe("quoting", () => {
  test("plain words stay, others are double-quoted with escapes", () => {
    expect(quoteWord("A-z_0@%+=:,./")).toBe("A-z_0@%+=:,./");
    expect(quoteWord("")).toBe('""');
    expect(quoteWord("a b")).toBe('"a b"');
    expect(quoteWord('a\\b"c\nd\te')).toBe('"a\\\\b\\"c\\nd\\te"');
    expect(quoteWord("x y\\")).toBe('"x y\\\\"');
    for (const w of ["", "a b", 'q"\\\n\t', "é"]) expect(splitWords(quoteWord(w), { unquote: true, cunescape: true })).toEqual([w]);
  });
});
