/**
 * systemd's word rules (systemd.syntax(7), extract_first_word() and cunescape()):
 * whitespace-separated words, single and double quotes, C-style escapes.
 * Pure.
 */

export interface WordOptions {
  /** Remove quotes ('...' and "..."), which may appear anywhere inside a word. */
  unquote?: boolean;
  /** Decode C escapes (\n, \t, \xNN, \NNN octal, \uNNNN, \UNNNNNNNN, \s ...). */
  cunescape?: boolean;
  /** Accept an unterminated quote or a trailing backslash instead of failing. */
  relax?: boolean;
  /** Separator characters (default: whitespace). */
  separators?: string;
}

export class WordError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "WordError";
  }
}

const WHITESPACE = " \t\n\r";

/** Decodes one C escape starting after the backslash; returns [text, consumed]. */
export function cunescapeOne(s: string, i: number): [string, number] {
  const c = s[i];
  switch (c) {
    case "a":
      return ["\x07", 1];
    case "b":
      return ["\b", 1];
    case "f":
      return ["\f", 1];
    case "n":
      return ["\n", 1];
    case "r":
      return ["\r", 1];
    case "t":
      return ["\t", 1];
    case "v":
      return ["\v", 1];
    case "\\":
      return ["\\", 1];
    case '"':
      return ['"', 1];
    case "'":
      return ["'", 1];
    case "s":
      return [" ", 1];
    case "x": {
      const h = s.slice(i + 1, i + 3);
      if (!/^[0-9a-fA-F]{2}$/.test(h)) throw new WordError(`invalid escape "\\x${h}"`);
      const v = parseInt(h, 16);
      if (v === 0) throw new WordError("\\x00 (NUL) is not allowed");
      return [String.fromCharCode(v), 3];
    }
    case "u":
    case "U": {
      const n = c === "u" ? 4 : 8;
      const h = s.slice(i + 1, i + 1 + n);
      if (h.length !== n || !/^[0-9a-fA-F]+$/.test(h)) throw new WordError(`invalid escape "\\${c}${h}"`);
      const v = parseInt(h, 16);
      if (v === 0 || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff)) throw new WordError(`invalid code point in "\\${c}${h}"`);
      return [String.fromCodePoint(v), 1 + n];
    }
    default:
      if (c !== undefined && c >= "0" && c <= "7") {
        const o = s.slice(i, i + 3);
        if (!/^[0-7]{3}$/.test(o)) throw new WordError(`invalid octal escape "\\${o}"`);
        const v = parseInt(o, 8);
        if (v === 0) throw new WordError("\\000 (NUL) is not allowed");
        if (v > 255) throw new WordError(`invalid octal escape "\\${o}"`);
        return [String.fromCharCode(v), 3];
      }
      throw new WordError(c === undefined ? "trailing backslash" : `invalid escape "\\${c}"`);
  }
}

/** cunescape() of a whole string (plain runs are copied as slices: linear in time and memory). */
export function cunescape(s: string): string {
  const parts: string[] = [];
  let run = 0;
  for (let i = s.indexOf("\\"); i >= 0; i = s.indexOf("\\", run)) {
    if (i > run) parts.push(s.slice(run, i));
    const [t, n] = cunescapeOne(s, i + 1);
    parts.push(t);
    run = i + 1 + n;
  }
  if (run === 0) return s;
  parts.push(s.slice(run));
  return parts.join("");
}

/**
 * Extracts the first word of s starting at pos. Returns the word and the position after it,
 * or null when only separators remain. The word is assembled from slices of s between the
 * characters that need work (quotes, backslashes), never one character at a time, so a
 * megabyte-long word costs a megabyte.
 */
export function extractFirstWord(s: string, pos: number, opts: WordOptions = {}): { word: string; next: number } | null {
  const seps = opts.separators ?? WHITESPACE;
  let i = pos;
  while (i < s.length && seps.includes(s[i]!)) i++;
  if (i >= s.length) return null;
  const parts: string[] = [];
  let run = i;
  const take = (upTo: number) => {
    if (upTo > run) parts.push(s.slice(run, upTo));
  };
  /** A backslash at i: appends what it stands for and returns the index of its last character. */
  const backslash = (keepBackslash: boolean): number => {
    take(i);
    if (i + 1 >= s.length) {
      if (opts.relax) {
        parts.push("\\");
        return i;
      }
      throw new WordError("trailing backslash");
    }
    if (opts.cunescape) {
      const [t, n] = cunescapeOne(s, i + 1);
      parts.push(t);
      return i + n;
    }
    if (keepBackslash) {
      parts.push("\\");
      return i;
    }
    parts.push(s[i + 1]!);
    return i + 1;
  };
  let quote: string | null = null;
  for (; i < s.length; i++) {
    const c = s[i]!;
    if (quote) {
      if (c === quote) {
        take(i);
        quote = null;
        run = i + 1;
      } else if (c === "\\") {
        i = backslash(false);
        run = i + 1;
      }
      continue;
    }
    if (seps.includes(c)) {
      take(i);
      return { word: parts.join(""), next: i };
    }
    if (opts.unquote && (c === "'" || c === '"')) {
      take(i);
      quote = c;
      run = i + 1;
      continue;
    }
    if (c === "\\") {
      i = backslash(!opts.unquote);
      run = i + 1;
    }
  }
  take(i);
  if (quote && !opts.relax) throw new WordError(`unbalanced quoting (missing closing ${quote})`);
  return { word: parts.join(""), next: i };
}

/** Splits s into words with extractFirstWord(). */
export function splitWords(s: string, opts: WordOptions = {}): string[] {
  const out: string[] = [];
  let pos = 0;
  for (;;) {
    const r = extractFirstWord(s, pos, opts);
    if (!r) break;
    out.push(r.word);
    pos = r.next;
  }
  return out;
}

/** Quotes a word so that splitWords(..., {unquote, cunescape}) gives it back. */
export function quoteWord(w: string): string {
  if (w !== "" && /^[A-Za-z0-9_@%+=:,./-]+$/.test(w)) return w;
  return `"${w.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n").replace(/\t/g, "\\t")}"`;
}
