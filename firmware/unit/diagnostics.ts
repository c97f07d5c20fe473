/** Diagnostics about unit files: where (file, line, directive) and what. */

export type Level = "error" | "warning" | "notice";

export interface Diagnostic {
  level: Level;
  file: string;
  line?: number;
  section?: string;
  key?: string;
  message: string;
}

/** "file:line: Key=: message" (the directive is named whenever there is one). */
export function formatDiagnostic(d: Diagnostic): string {
  const where = d.line ? `${d.file}:${d.line}` : d.file;
  const what = d.key ? `${d.key}=: ` : "";
  return `${where}: ${d.level}: ${what}${d.message}`;
}

export function hasErrors(ds: readonly Diagnostic[]): boolean {
  return ds.some((d) => d.level === "error");
}

/** Thrown when a unit cannot be used; carries every diagnostic found. */
export class UnitLoadError extends Error {
  readonly diagnostics: Diagnostic[];
  constructor(unit: string, diagnostics: Diagnostic[]) {
    const errors = diagnostics.filter((d) => d.level === "error");
    super(`${unit}: ${errors.length ? errors.map(formatDiagnostic).join("\n") : "failed to load"}`);
    this.name = "UnitLoadError";
    this.diagnostics = diagnostics;
  }
}
