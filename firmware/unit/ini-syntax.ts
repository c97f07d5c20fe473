/**
 * The line syntax of unit files (systemd.syntax(7), conf-parser.c):
 *   - lines starting with '#' or ';' (after whitespace) are comments, also inside a continuation;
 *   - a line ending in an unescaped backslash continues on the next line, the backslash
 *     becoming a space;
 *   - "[Section]" headers; "Key=Value" assignments with surrounding whitespace stripped;
 *   - a UTF-8 byte-order mark at the start is skipped.
 * Pure: text in, entries and diagnostics out.
 */
import type { Diagnostic } from "./diagnostics.ts";

export interface Assignment {
  section: string;
  key: string;
  value: string;
  /** Line where the assignment starts (1-based). */
  line: number;
  file: string;
}

export interface ParsedFile {
  file: string;
  /** Sections in order of first appearance. */
  sections: string[];
  assignments: Assignment[];
  diagnostics: Diagnostic[];
}

/**
 * systemd's LONG_LINE_MAX (src/basic/fileio.h): the longest line, and the longest logical line
 * a continuation builds, that a unit file may have. Longer is an error that ends the file's
 * parsing, as in systemd's config_parse() ("Line too long"), so the unit is not loaded.
 */
export const LONG_LINE_MAX = 1024 * 1024;

/** A line ending in an odd number of backslashes continues (only the trailing run matters). */
function isEscapedAtEnd(s: string): boolean {
  let n = 0;
  for (let i = s.length - 1; i >= 0 && s.charCodeAt(i) === 0x5c; i--) n++;
  return n % 2 === 1;
}

export function parseUnitText(text: string, file: string): ParsedFile {
  const out: ParsedFile = { file, sections: [], assignments: [], diagnostics: [] };
  if (text.startsWith("\uFEFF")) text = text.slice(1);
  let section: string | null = null;
  let ignoreSection = false;
  let startLine = 0;

  const flush = (logical: string, line: number) => {
    const l = logical.trim();
    if (l === "") return;
    if (l.startsWith("[")) {
      if (!l.endsWith("]") || l.length < 3) {
        out.diagnostics.push({ level: "error", file, line, message: `Invalid section header '${l}'` });
        section = null;
        ignoreSection = true;
        return;
      }
      const name = l.slice(1, -1);
      if (/[[\]]/.test(name) || name.trim() !== name) {
        out.diagnostics.push({ level: "error", file, line, message: `Invalid section header '${l}'` });
        section = null;
        ignoreSection = true;
        return;
      }
      section = name;
      ignoreSection = false;
      if (!out.sections.includes(name)) out.sections.push(name);
      return;
    }
    if (l.startsWith(".include ")) {
      out.diagnostics.push({ level: "warning", file, line, message: `.include directives are not supported (removed in systemd v250), ignoring: ${l}` });
      return;
    }
    if (section === null) {
      if (!ignoreSection) out.diagnostics.push({ level: "warning", file, line, message: "Assignment outside of section. Ignoring." });
      return;
    }
    const eq = l.indexOf("=");
    if (eq < 0) {
      out.diagnostics.push({ level: "error", file, line, section, message: `Missing '=', ignoring line: ${l}` });
      return;
    }
    const key = l.slice(0, eq).trim();
    if (key === "") {
      out.diagnostics.push({ level: "error", file, line, section, message: `Missing key name before '=', ignoring line: ${l}` });
      return;
    }
    out.assignments.push({ section, key, value: l.slice(eq + 1).trim(), line, file });
  };

  // One pass over the text: lines are found with indexOf and a continuation collects its parts
  // in an array joined once, so the work is linear in the text whatever the line structure.
  let parts: string[] | null = null;
  let partsLength = 0;
  let lineNo = 0;
  for (let pos = 0; pos <= text.length; ) {
    let end = text.indexOf("\n", pos);
    if (end < 0) end = text.length;
    lineNo++;
    const length = end - pos;
    if (length > LONG_LINE_MAX || (parts !== null && partsLength + length > LONG_LINE_MAX)) {
      const what = parts !== null ? "Continuation line" : "Line";
      const at = parts !== null ? startLine : lineNo;
      out.diagnostics.push({
        level: "error",
        file,
        line: at,
        message: `${what} too long (more than ${LONG_LINE_MAX} bytes, systemd's LONG_LINE_MAX), ignoring the rest of the file`,
      });
      return out;
    }
    let raw = text.slice(pos, end);
    pos = end + 1;
    if (end === text.length && raw === "" && parts === null) break;
    if (raw.endsWith("\r")) raw = raw.slice(0, -1);
    const lead = raw.trimStart();
    if (lead.startsWith("#") || lead.startsWith(";")) continue;
    if (parts === null) startLine = lineNo;
    if (isEscapedAtEnd(raw)) {
      (parts ??= []).push(raw.slice(0, -1), " ");
      partsLength += raw.length;
      continue;
    }
    if (parts !== null) {
      parts.push(raw);
      flush(parts.join(""), startLine);
      parts = null;
      partsLength = 0;
    } else flush(raw, startLine);
  }
  if (parts !== null) flush(parts.join(""), startLine);
  return out;
}
