/**
 * Where each key of a TOML or JSON document stands: a map from key path
 * ("interfaces[0].endpoints[1].max_packet") to its line, written the way description-schema.ts
 * writes paths. Bun's parsers give values without positions; these scanners read the text
 * again, only for positions (the text has already parsed, or failed to). Pure.
 */
import { child } from "./description-schema.ts";

class Scan {
  i = 0;
  line = 1;
  readonly lines = new Map<string, number>();
  constructor(
    readonly s: string,
    /** JSON's strings: no raw tabs, only its own escapes. */
    readonly json = false,
  ) {}

  ch(): string {
    return this.s[this.i] ?? "";
  }
  at(t: string): boolean {
    return this.s.startsWith(t, this.i);
  }
  step(n = 1): void {
    for (let k = 0; k < n && this.i < this.s.length; k++) if (this.s[this.i++] === "\n") this.line++;
  }
  mark(path: string): void {
    if (!this.lines.has(path)) this.lines.set(path, this.line);
  }
  fail(what: string): never {
    throw new ScanError(what, this.line);
  }
  /** Spaces and tabs; with `nl` also newlines, and comments when `comments` starts one. */
  space(nl: boolean, comments: string): void {
    for (;;) {
      const c = this.ch();
      if (c === " " || c === "\t" || c === "\r" || (nl && c === "\n")) this.step();
      else if (comments && c === comments) while (this.i < this.s.length && this.ch() !== "\n") this.step();
      else return;
    }
  }
  /** A quoted string starting at the quote; returns its text (escapes resolved roughly). */
  quoted(): string {
    const q = this.ch();
    const triple = !this.json && this.at(q.repeat(3));
    this.step(triple ? 3 : 1);
    let out = "";
    for (;;) {
      if (this.i >= this.s.length) this.fail("unterminated string");
      if (triple ? this.at(q.repeat(3)) : this.ch() === q) {
        this.step(triple ? 3 : 1);
        while (triple && this.ch() === q) this.step(); // """a"""" ends with a quote in the text
        return out;
      }
      if (!triple && this.ch() === "\n") this.fail("newline in a string");
      if (q === '"' && this.ch() === "\\") {
        this.step();
        const e = this.ch();
        if (e === "u") {
          const hex = this.s.slice(this.i + 1, this.i + 5);
          if (!/^[0-9a-fA-F]{4}$/.test(hex)) this.fail("bad \\u escape");
          out += String.fromCharCode(parseInt(hex, 16));
          this.step(5);
          continue;
        }
        if (this.json && !'"\\/bfnrt'.includes(e)) this.fail(`bad escape \\${e}`);
        out += { n: "\n", t: "\t", r: "\r", b: "\b", f: "\f" }[e] ?? e;
        this.step();
        continue;
      }
      if (this.ch() < " " && (this.json || this.ch() !== "\t") && !(triple && (this.ch() === "\n" || this.ch() === "\r")))
        this.fail("control character in a string");
      out += this.ch();
      this.step();
    }
  }
}

class ScanError extends Error {
  constructor(
    message: string,
    readonly line: number,
  ) {
    super(message);
  }
}

// ---- TOML ----

function tomlKey(sc: Scan): string[] {
  const keys: string[] = [];
  for (;;) {
    sc.space(false, "");
    if (sc.ch() === '"' || sc.ch() === "'") keys.push(sc.quoted());
    else {
      const m = /^[A-Za-z0-9_-]+/.exec(sc.s.slice(sc.i, sc.i + 256));
      if (!m) sc.fail("expected a key");
      keys.push(m[0]);
      sc.step(m[0].length);
    }
    sc.space(false, "");
    if (sc.ch() !== ".") return keys;
    sc.step();
  }
}

function tomlValue(sc: Scan, path: string): void {
  sc.mark(path);
  if (sc.ch() === '"' || sc.ch() === "'") return void sc.quoted();
  if (sc.ch() === "[") {
    sc.step();
    for (let n = 0; ; n++) {
      sc.space(true, "#");
      if (sc.ch() === "]") return sc.step();
      tomlValue(sc, `${path}[${n}]`);
      sc.space(true, "#");
      if (sc.ch() === ",") sc.step();
      else if (sc.ch() !== "]") sc.fail("expected , or ]");
    }
  }
  if (sc.ch() === "{") {
    sc.step();
    for (;;) {
      sc.space(false, "");
      if (sc.ch() === "}") return sc.step();
      const keys = tomlKey(sc);
      if (sc.ch() !== "=") sc.fail("expected =");
      sc.step();
      sc.space(false, "");
      tomlValue(sc, keys.reduce(child, path));
      sc.space(false, "");
      if (sc.ch() === ",") sc.step();
      else if (sc.ch() !== "}") sc.fail("expected , or }");
    }
  }
  const start = sc.i;
  while (sc.i < sc.s.length && !",]}\n#".includes(sc.ch())) sc.step();
  if (sc.i === start) sc.fail("expected a value");
}

/** Key path -> line for a TOML document (tables, array tables, keys, list items). */
export function tomlKeyLines(text: string): Map<string, number> {
  const sc = new Scan(text);
  const arrays = new Map<string, number>(); // array table path -> tables so far
  const resolve = (keys: string[], array: boolean) => {
    let p = "";
    keys.forEach((k, j) => {
      p = child(p, k);
      if (array && j === keys.length - 1) {
        sc.mark(p); // the list itself: where its first table starts
        const n = (arrays.get(p) ?? 0) + 1;
        arrays.set(p, n);
        p = `${p}[${n - 1}]`;
      } else if (arrays.has(p)) p = `${p}[${arrays.get(p)! - 1}]`;
    });
    return p;
  };
  let table = "";
  try {
    while (sc.i < sc.s.length) {
      sc.space(true, "#");
      if (sc.i >= sc.s.length) break;
      const before = sc.i;
      if (sc.ch() === "[") {
        const array = sc.at("[[");
        sc.step(array ? 2 : 1);
        const keys = tomlKey(sc);
        table = resolve(keys, array);
        sc.mark(table);
      } else {
        const keys = tomlKey(sc);
        if (sc.ch() !== "=") sc.fail("expected =");
        sc.step();
        sc.space(false, "");
        tomlValue(sc, keys.reduce(child, table));
      }
      while (sc.i < sc.s.length && sc.ch() !== "\n") sc.step(); // the rest of the line
      if (sc.i === before) sc.step();
    }
  } catch {
    // A document the scanner does not follow: the lines found so far.
  }
  return sc.lines;
}

// ---- JSON ----

function jsonValue(sc: Scan, path: string): void {
  sc.space(true, "");
  sc.mark(path);
  if (sc.ch() === '"') return void sc.quoted();
  if (sc.ch() === "[" || sc.ch() === "{") {
    const close = sc.ch() === "[" ? "]" : "}";
    sc.step();
    sc.space(true, "");
    if (sc.ch() === close) return sc.step();
    for (let n = 0; ; n++) {
      let p = `${path}[${n}]`;
      if (close === "}") {
        sc.space(true, "");
        if (sc.ch() !== '"') sc.fail("expected a key");
        p = child(path, sc.quoted());
        sc.space(true, "");
        if (sc.ch() !== ":") sc.fail("expected :");
        sc.step();
      }
      jsonValue(sc, p);
      sc.space(true, "");
      if (sc.ch() === close) return sc.step();
      if (sc.ch() !== ",") sc.fail(`expected , or ${close}`);
      sc.step();
    }
  }
  const m = /^(true|false|null|-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?)(?![\w.+-])/.exec(sc.s.slice(sc.i, sc.i + 400));
  if (!m) sc.fail("expected a value");
  sc.step(m[0].length);
}

function jsonScan(text: string): Scan {
  const sc = new Scan(text, true);
  jsonValue(sc, "");
  sc.space(true, "");
  if (sc.i < sc.s.length) sc.fail("text after the value");
  return sc;
}

/** Key path -> line for a JSON document ("" is the document itself). */
export function jsonKeyLines(text: string): Map<string, number> {
  try {
    return jsonScan(text).lines;
  } catch {
    return new Map();
  }
}

/** The line where a JSON text stops being JSON, or null when the scanner finds none. */
export function jsonErrorLine(text: string): number | null {
  try {
    jsonScan(text);
    return null;
  } catch (e) {
    return e instanceof ScanError ? e.line : null;
  }
}

/** The path one level up: "a.b[2]" -> "a.b" -> "a" -> "". */
export function parentPath(path: string): string {
  const m = /(?:\.?(?:[\w-]+|"(?:[^"\\]|\\.)*")|\[\d+\])$/.exec(path);
  return m ? path.slice(0, m.index) : "";
}

/** The line of `path`, or of the nearest enclosing key that has one (a missing key: its table). */
export function lineOf(lines: Map<string, number>, path: string): number | undefined {
  if (path === "") return lines.get("");
  for (let p = path; p; p = parentPath(p)) {
    const l = lines.get(p);
    if (l !== undefined) return l;
  }
  return undefined;
}
