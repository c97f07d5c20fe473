/**
 * Directives as data: a section schema maps each directive name to a handler that parses the
 * value into a typed config. Combinators below cover the common value kinds; an empty value
 * resets lists and optional settings, as in systemd. Pure.
 */
import type { Assignment } from "./ini-syntax.ts";
import type { Diagnostic, Level } from "./diagnostics.ts";
import { SpecifierError } from "./specifiers.ts";
import { SYSTEMD_DIRECTIVES } from "./systemd-directives.ts";
import {
  isNormalizedAbsolutePath,
  parseBoolean,
  parseIecSize,
  parseInteger,
  parseMode,
  parseSignal,
  parseTimespan,
  parseUnsigned,
  ValueError,
} from "./values.ts";
import { splitWords, WordError } from "./words.ts";

export interface DirectiveContext {
  file: string;
  line: number;
  section: string;
  key: string;
  unit: string;
  /** Expands specifiers; throws SpecifierError. */
  expand(s: string): string;
  report(level: Level, message: string): void;
}

export type DirectiveHandler<C> = (cfg: C, value: string, ctx: DirectiveContext) => void;
export type SectionSchema<C> = Record<string, DirectiveHandler<C>>;

export interface ApplyOptions {
  unit: string;
  expand(s: string): string;
  /** Directives systemd knows that bunit deliberately ignores without a notice. */
  quiet?: ReadonlySet<string>;
}

/** Applies the assignments of one section to cfg; returns diagnostics. */
export function applySection<C>(schema: SectionSchema<C>, cfg: C, assignments: readonly Assignment[], opts: ApplyOptions): Diagnostic[] {
  const out: Diagnostic[] = [];
  for (const a of assignments) {
    const report = (level: Level, message: string) => out.push({ level, file: a.file, line: a.line, section: a.section, key: a.key, message });
    const handler = Object.hasOwn(schema, a.key) ? schema[a.key] : undefined;
    if (!handler) {
      // systemd ignores keys prefixed with "X-" (extensions of other programs); so does bunit.
      if (a.key.startsWith("X-")) continue;
      const known = SYSTEMD_DIRECTIVES[a.section]?.includes(a.key);
      if (known) {
        if (!opts.quiet?.has(a.key)) report("notice", `not supported by bunit, ignoring`);
      } else {
        report("warning", `Unknown key name '${a.key}' in section '${a.section}', ignoring.`);
      }
      continue;
    }
    const ctx: DirectiveContext = { file: a.file, line: a.line, section: a.section, key: a.key, unit: opts.unit, expand: opts.expand, report };
    try {
      handler(cfg, a.value, ctx);
    } catch (e) {
      if (e instanceof ValueError || e instanceof SpecifierError || e instanceof WordError) report("error", `${e.message}`);
      else throw e;
    }
  }
  return out;
}

// ---- combinators ------------------------------------------------------------------------

type Set<C, T> = (cfg: C, v: T) => void;

export const bool =
  <C>(set: Set<C, boolean>): DirectiveHandler<C> =>
  (c, v) =>
    set(c, parseBoolean(v));

/** A boolean where the empty string restores the default (undefined). */
export const optBool =
  <C>(set: Set<C, boolean | undefined>): DirectiveHandler<C> =>
  (c, v) =>
    set(c, v === "" ? undefined : parseBoolean(v));

export const unsigned =
  <C>(set: Set<C, number | undefined>, max?: number): DirectiveHandler<C> =>
  (c, v) =>
    set(c, v === "" ? undefined : parseUnsigned(v, max));

export const integer =
  <C>(set: Set<C, number | undefined>, min?: number, max?: number): DirectiveHandler<C> =>
  (c, v) =>
    set(c, v === "" ? undefined : parseInteger(v, min, max));

/** Time span in microseconds; a bare number is seconds. */
export const timespan =
  <C>(set: Set<C, number | undefined>): DirectiveHandler<C> =>
  (c, v) =>
    set(c, v === "" ? undefined : parseTimespan(v));

/** systemd's config_parse_sec_fix_0: 0 means "no limit" (infinity). */
export const timespanFix0 =
  <C>(set: Set<C, number | undefined>): DirectiveHandler<C> =>
  (c, v) => {
    if (v === "") return set(c, undefined);
    const t = parseTimespan(v);
    set(c, t === 0 ? Infinity : t);
  };

export const iecSize =
  <C>(set: Set<C, number | undefined>): DirectiveHandler<C> =>
  (c, v) =>
    set(c, v === "" ? undefined : parseIecSize(v));

export const mode =
  <C>(set: Set<C, number | undefined>): DirectiveHandler<C> =>
  (c, v) =>
    set(c, v === "" ? undefined : parseMode(v));

export const signal =
  <C>(set: Set<C, number | undefined>): DirectiveHandler<C> =>
  (c, v) =>
    set(c, v === "" ? undefined : parseSignal(v));

/** A string with specifiers expanded; empty resets to undefined. */
export const string =
  <C>(set: Set<C, string | undefined>, opts: { raw?: boolean } = {}): DirectiveHandler<C> =>
  (c, v, ctx) =>
    set(c, v === "" ? undefined : opts.raw ? v : ctx.expand(v));

/** An absolute, normalized path with specifiers expanded. */
export const path =
  <C>(set: Set<C, string | undefined>): DirectiveHandler<C> =>
  (c, v, ctx) => {
    if (v === "") return set(c, undefined);
    const p = ctx.expand(v);
    if (!isNormalizedAbsolutePath(p)) throw new ValueError(`"${p}" is not an absolute, normalized path`);
    set(c, p);
  };

/** One of a fixed set of words. */
export const oneOf =
  <C, T extends string>(choices: readonly T[], set: Set<C, T | undefined>): DirectiveHandler<C> =>
  (c, v) => {
    if (v === "") return set(c, undefined);
    if (!(choices as readonly string[]).includes(v)) throw new ValueError(`"${v}" is not one of: ${choices.join(", ")}`);
    set(c, v as T);
  };

/** A space-separated list (quotes allowed) appended to; empty resets. */
export const list =
  <C>(get: (c: C) => string[], opts: { expand?: boolean; check?: (w: string) => void } = {}): DirectiveHandler<C> =>
  (c, v, ctx) => {
    const target = get(c);
    if (v === "") {
      target.length = 0;
      return;
    }
    for (const w of splitWords(v, { unquote: true })) {
      const x = opts.expand === false ? w : ctx.expand(w);
      opts.check?.(x);
      target.push(x);
    }
  };

/**
 * Parsed (validated and kept, so that `show` has it) but with no effect in bunit: a notice says
 * so, as for the directives bunit does not parse at all.
 */
export const noEffect =
  <C>(why: string, handler: DirectiveHandler<C> = () => {}): DirectiveHandler<C> =>
  (c, v, ctx) => {
    handler(c, v, ctx);
    if (v !== "") ctx.report("notice", `${why}, ignoring`);
  };

/** Parsed for validity, then reported as not supported (for settings that cannot be honoured). */
export const unsupported =
  <C>(reason: string, validate?: (v: string) => void): DirectiveHandler<C> =>
  (_c, v, ctx) => {
    validate?.(v);
    if (v !== "") ctx.report("notice", reason);
  };
