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

const LONG_LINE_MAX = 1024 * 1024;

function isEscapedAtEnd(s: string): boolean {
  let escaped = false;
  for (const c of s) {
    if (escaped) escaped = false;
    else if (c === "\\") escaped = true;
  }
  return escaped;
}

export function parseUnitText(text: string, file: string): ParsedFile {
  const out: ParsedFile = { file, sections: [], assignments: [], diagnostics: [] };
  if (text.startsWith("\uFEFF")) text = text.slice(1);
  const lines = text.split("\n");
  let section: string | null = null;
  let ignoreSection = false;
  let continuation: string | null = null;
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
      if (/[\[\]]/.test(name) || name.trim() !== name) {
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

  for (let i = 0; i < lines.length; i++) {
    let raw = lines[i]!;
    if (raw.endsWith("\r")) raw = raw.slice(0, -1);
    const lead = raw.trimStart();
    if (lead.startsWith("#") || lead.startsWith(";")) continue;
    let p: string;
    if (continuation !== null) {
      p = continuation + raw;
      if (p.length > LONG_LINE_MAX) {
        out.diagnostics.push({ level: "error", file, line: startLine, message: "Continuation line too long" });
        continuation = null;
        continue;
      }
    } else {
      p = raw;
      startLine = i + 1;
    }
    if (isEscapedAtEnd(p)) {
      continuation = p.slice(0, -1) + " ";
      continue;
    }
    continuation = null;
    flush(p, startLine);
  }
  if (continuation !== null) flush(continuation, startLine);
  return out;
}
