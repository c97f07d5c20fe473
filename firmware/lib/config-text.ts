/**
 * Reading a TOML or JSON description (USB specs, gadget descriptions, board configurations): the
 * file name decides the syntax; a syntax error is a DescriptionError with its line, and the
 * document comes with the line of each key path, for the validator's problems.
 *
 * Bun's parsers report errors without a usable line number. For TOML this finds the first line
 * at which the document stops parsing: the smallest prefix of lines that fails while every
 * shorter prefix parses (a construct spanning lines, such as a multi-line array, points at its
 * start). For JSON a scanner finds where the text stops being JSON.
 */
import { DescriptionError, validate, type Schema, type ValidateOptions } from "./description-schema.ts";
import { errorText } from "../core/errors.ts";
import { jsonErrorLine, jsonKeyLines, lineOf, tomlKeyLines } from "./key-lines.ts";

export function tomlErrorLine(text: string): number | null {
  const lines = text.split("\n");
  const fails = (k: number) => {
    try {
      Bun.TOML.parse(lines.slice(0, k).join("\n"));
      return false;
    } catch {
      return true;
    }
  };
  if (!fails(lines.length)) return null;
  // Binary search for the first failing prefix, then step back over a run of failures that a
  // later line would not fix (prefix failures are not monotonic across multi-line values).
  let lo = 1;
  let hi = lines.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (fails(mid)) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/** A parsed description file. */
export interface Description {
  file: string;
  kind: string;
  doc: unknown;
  /** The line of a key path, or of its nearest enclosing key (found when first asked). */
  lineOf(path: string): number | undefined;
}

/**
 * Parses `text` as JSON when `file` ends in .json, as TOML otherwise; a syntax error throws a
 * DescriptionError ("x.toml: invalid <kind>:\n  TOML syntax: ... (line 4)").
 */
export function readDescription(text: string, file: string, kind: string): Description {
  const json = file.endsWith(".json");
  let doc: unknown;
  try {
    doc = json ? JSON.parse(text) : Bun.TOML.parse(text);
  } catch (e) {
    const line = (json ? jsonErrorLine(text) : tomlErrorLine(text)) ?? undefined;
    const message = `${json ? "JSON" : "TOML"} syntax: ${errorText(e).replace(/^(TOML|JSON) Parse error: /, "")}`;
    throw new DescriptionError(file, kind, [{ path: "", message, ...(line ? { line } : {}) }]);
  }
  let lines: Map<string, number> | undefined;
  return {
    file,
    kind,
    doc,
    lineOf: (path) => lineOf((lines ??= json ? jsonKeyLines(text) : tomlKeyLines(text)), path),
  };
}

/** Validates a read description (or the part of it at `at`) with `schema`. */
export function validateDescription<T>(d: Description, schema: Schema<T>, at?: { path: string; value: unknown }): T {
  const o: ValidateOptions = { source: d.file, kind: d.kind, lineOf: d.lineOf, ...(at ? { at: at.path } : {}) };
  return validate(schema, at ? at.value : d.doc, o);
}
