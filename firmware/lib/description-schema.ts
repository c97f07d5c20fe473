/**
 * One validator for the untyped values read from TOML/JSON description files (USB function
 * specs, gadget descriptions, board configurations). A schema says what a value must look like;
 * walking a value with it collects every problem, each with its key path
 * ("interfaces[0].endpoints[1].max_packet.full") and, where the reader knows it, the file line.
 * An unusable value is replaced by a fallback so the walk goes on and the checks after it still
 * run; validate() returns a fully valid result or throws one DescriptionError listing all
 * problems. Pure.
 *
 *   const schema = obj({ name: req(str()), count: dflt(int(1, 9), 1), tags: opt(list(str())) });
 *   validate(schema, Bun.TOML.parse(text), { source: "x.toml", kind: "thing" });
 *
 * No npm validator fits: the firmware has no runtime dependencies, and none reports TOML lines.
 */

export interface Problem {
  /** Key path, "" for the whole document. */
  path: string;
  message: string;
  line?: number;
}

/** "path: message (line N)" */
export const problemText = (p: Problem): string => `${p.path ? `${p.path}: ` : ""}${p.message}${p.line ? ` (line ${p.line})` : ""}`;

/** An invalid description file: every problem, the message naming the file. */
export class DescriptionError extends Error {
  constructor(
    readonly source: string,
    /** What the file describes: "USB function description", "board configuration". */
    readonly kind: string,
    readonly problems: Problem[],
  ) {
    super(`${source}: invalid ${kind}:\n${problems.map((p) => `  ${problemText(p)}`).join("\n")}`);
    this.name = "DescriptionError";
  }
}

export type Table = Record<string, unknown>;

/** A TOML table or JSON object (not a list, byte array or date). */
export function isTable(v: unknown): v is Table {
  if (typeof v !== "object" || v === null) return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

/** A key as it appears in a path: quoted when it is not a plain name. */
export const keyText = (k: string): string => (/^[\w-]+$/.test(k) ? k : JSON.stringify(k));
export const child = (path: string, key: string): string => (path ? `${path}.${keyText(key)}` : keyText(key));

/** A value as a message shows it: strings quoted, containers by kind. */
export function show(v: unknown): string {
  if (typeof v === "string") return JSON.stringify(v);
  if (typeof v === "number" || typeof v === "bigint" || typeof v === "boolean") return String(v);
  if (Array.isArray(v)) return "a list";
  if (isTable(v)) return "a table";
  return v === undefined ? "nothing" : Object.prototype.toString.call(v).slice(8, -1).toLowerCase();
}

/** The problems found so far in one walk. */
export class Walk {
  readonly problems: Problem[] = [];

  add(path: string, message: string): void {
    this.problems.push({ path, message });
  }
  /** Whether a problem was reported at `path` or inside it. */
  failed(path: string): boolean {
    return this.problems.some((p) => p.path === path || p.path.startsWith(`${path}.`) || p.path.startsWith(`${path}[`));
  }
}

export interface Schema<T> {
  /** What a value must be, for "missing (...)": "an integer", "a table". */
  readonly what: string;
  /** The value, or undefined after reporting why it cannot be used. */
  read(v: unknown, w: Walk, path: string): T | undefined;
  /** What stands in for a missing or unusable required value, so the walk can go on. */
  fallback(): T;
}

/** A schema from its parts (for shapes the primitives below do not cover). */
export function custom<T>(what: string, read: (v: unknown, w: Walk, path: string) => T | undefined, fallback: () => T): Schema<T> {
  return { what, read, fallback };
}

/** Any value, unchecked (a value whose form depends on a sibling key). */
export const anything: Schema<unknown> = custom(
  "a value",
  (v) => v,
  () => undefined,
);

/** An integer in min..max; `text` also takes "0x1f" and "31"; `hex` shows the range in hex. */
export function int(min: number, max: number, o: { text?: boolean; hex?: boolean } = {}): Schema<number> {
  const fmt = (n: number) => (o.hex && n > 9 ? `0x${n.toString(16)}` : String(n));
  return custom(
    "an integer",
    (v, w, path) => {
      let n: number | undefined;
      if (typeof v === "number") n = v;
      else if (o.text && typeof v === "string" && /^(0x[0-9a-fA-F]+|\d+)$/.test(v)) n = Number(v);
      if (n === undefined || !Number.isSafeInteger(n)) return (w.add(path, `must be an integer, not ${show(v)}`), undefined);
      // Out of range is reported but kept, so that rules about the value can say more.
      if (n < min || n > max) w.add(path, `${n} is out of range (${fmt(min)}..${fmt(max)})`);
      return n;
    },
    () => min,
  );
}

export function str(o: { pattern?: RegExp; hint?: string; empty?: boolean } = {}): Schema<string> {
  return custom(
    "a string",
    (v, w, path) => {
      if (typeof v !== "string") return (w.add(path, `must be a string, not ${show(v)}`), undefined);
      if (v === "" && !o.empty) return (w.add(path, "must not be empty"), undefined);
      if (o.pattern && !o.pattern.test(v)) return (w.add(path, `${show(v)} is not valid${o.hint ? ` (${o.hint})` : ""}`), undefined);
      return v;
    },
    () => "",
  );
}

export const bool: Schema<boolean> = custom(
  "true or false",
  (v, w, path) => (typeof v === "boolean" ? v : (w.add(path, `must be true or false, not ${show(v)}`), undefined)),
  () => false,
);

/** `"a", "b" or "c"` */
export const choiceText = (xs: readonly string[]): string => {
  const q = xs.map((x) => JSON.stringify(x));
  return q.length > 1 ? `${q.slice(0, -1).join(", ")} or ${q[q.length - 1]}` : q.join("");
};

/** One of a few strings; `notes` explain particular wrong values. */
export function oneOf<T extends string>(choices: readonly T[], o: { what?: string; notes?: Record<string, string> } = {}): Schema<T> {
  const what = o.what ?? choiceText(choices);
  return custom(
    what,
    (v, w, path) => {
      if (typeof v === "string" && (choices as readonly string[]).includes(v)) return v as T;
      const note = typeof v === "string" ? o.notes?.[v] : undefined;
      w.add(path, `must be ${what}, not ${show(v)}${note ? ` (${note})` : ""}`);
      return undefined;
    },
    () => choices[0]!,
  );
}

/** A name from a table (a class name -> its number); `other` reads anything else (a number). */
export function named<T>(table: Record<string, T>, what: string, other?: Schema<T>): Schema<T> {
  return custom(
    what,
    (v, w, path) => {
      if (typeof v === "string" && Object.hasOwn(table, v)) return table[v];
      if (other && (typeof v !== "string" || /^(0x[0-9a-fA-F]+|\d+)$/.test(v))) return other.read(v, w, path);
      w.add(path, `must be ${what}, not ${show(v)}`);
      return undefined;
    },
    () => other?.fallback() ?? Object.values(table)[0]!,
  );
}

/** A list; items that cannot be used are left out (their problems are reported). */
export function list<T>(item: Schema<T>, o: { nonEmpty?: string } = {}): Schema<T[]> {
  return custom(
    "a list",
    (v, w, path) => {
      if (!Array.isArray(v)) return (w.add(path, `must be a list, not ${show(v)}`), undefined);
      if (o.nonEmpty && v.length === 0) w.add(path, o.nonEmpty);
      const out: T[] = [];
      v.forEach((x, i) => {
        const r = item.read(x, w, `${path}[${i}]`);
        if (r !== undefined) out.push(r);
      });
      return out;
    },
    () => [],
  );
}

/** A table with free keys (languages, attributes); `key` checks each key. */
export function record<T>(value: Schema<T>, key?: { pattern: RegExp; message: string }): Schema<Record<string, T>> {
  return custom(
    "a table",
    (v, w, path) => {
      if (!isTable(v)) return (w.add(path, `must be a table, not ${show(v)}`), undefined);
      const out: Record<string, T> = {};
      for (const [k, x] of Object.entries(v)) {
        if ((key && !key.pattern.test(k)) || k === "__proto__") {
          w.add(child(path, k), key?.message ?? "is not a usable key");
          continue;
        }
        const r = value.read(x, w, child(path, k));
        if (r !== undefined) out[k] = r;
      }
      return out;
    },
    () => ({}),
  );
}

/** A key of a table: required, optional (undefined when absent or unusable), or with a default. */
export interface Field<T> {
  readonly schema: Schema<unknown>;
  readonly take: (v: unknown, w: Walk, path: string) => T;
}
export function req<T>(s: Schema<T>, missing = `missing (${s.what})`): Field<T> {
  return { schema: s, take: (v, w, path) => (v === undefined ? (w.add(path, missing), s.fallback()) : (s.read(v, w, path) ?? s.fallback())) };
}
export function opt<T>(s: Schema<T>): Field<T | undefined> {
  return { schema: s, take: (v, w, path) => (v === undefined ? undefined : s.read(v, w, path)) };
}
export function dflt<T>(s: Schema<T>, d: T): Field<T> {
  return { schema: s, take: (v, w, path) => (v === undefined ? d : (s.read(v, w, path) ?? d)) };
}

export type Fields = Record<string, Field<unknown>>;
export type Shape<F extends Fields> = { [K in keyof F]: F[K] extends Field<infer T> ? T : never };

/** A table with known keys; any other key is reported as an unknown setting. */
export function obj<F extends Fields>(fields: F): Schema<Shape<F>> {
  const read = (v: unknown, w: Walk, path: string): Shape<F> | undefined => {
    if (!isTable(v)) return (w.add(path, `must be a table, not ${show(v)}`), undefined);
    for (const k of Object.keys(v)) if (!Object.hasOwn(fields, k)) w.add(child(path, k), "unknown setting");
    const out: Record<string, unknown> = {};
    for (const [k, f] of Object.entries(fields)) out[k] = f.take(v[k], w, child(path, k));
    return out as Shape<F>;
  };
  return custom("a table", read, () => read({}, new Walk(), "")!);
}

/** A schema whose value is checked further and converted; `fn` runs only on a readable value. */
export function refine<T, U>(s: Schema<T>, fn: (v: T, w: Walk, path: string) => U | undefined, fallback?: () => U): Schema<U> {
  return custom(
    s.what,
    (v, w, path) => {
      const r = s.read(v, w, path);
      return r === undefined ? undefined : fn(r, w, path);
    },
    fallback ?? (() => fn(s.fallback(), new Walk(), "")!),
  );
}

export interface ValidateOptions {
  /** The file, for the message. */
  source: string;
  kind: string;
  /** Path of the value inside its file ("gadget" for a board config's [gadget] table). */
  at?: string;
  /** The line of a key path (config-text's reader knows them). */
  lineOf?: (path: string) => number | undefined;
}

/** Walks `value` with `schema`: the result, or a DescriptionError with every problem. */
export function validate<T>(schema: Schema<T>, value: unknown, o: ValidateOptions): T {
  const w = new Walk();
  const out = schema.read(value, w, o.at ?? "");
  if (out === undefined && w.problems.length === 0) w.add(o.at ?? "", "is not valid");
  if (w.problems.length) throw new DescriptionError(o.source, o.kind, withLines(w.problems, o.lineOf));
  return out!;
}

export function withLines(problems: Problem[], lineOf?: (path: string) => number | undefined): Problem[] {
  if (!lineOf) return problems;
  return problems.map((p) => {
    const line = p.line ?? lineOf(p.path);
    return line === undefined ? p : { ...p, line };
  });
}
