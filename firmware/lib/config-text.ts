/**
 * Reading a TOML or JSON description (USB specs, gadget descriptions): the file name decides
 * the syntax, and a syntax error becomes one problem line ("TOML syntax (line 4): ...").
 *
 * Bun's TOML parser reports errors without a usable line number. This finds the first line at
 * which the document stops parsing: the smallest prefix of lines that fails while every shorter
 * prefix parses (a construct spanning lines, such as a multi-line array, points at its start).
 */
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

/** A syntax error in a description file; the message is the problem line. */
export class ConfigSyntaxError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConfigSyntaxError";
  }
}

/** Parses `text` as JSON when `file` ends in .json, as TOML otherwise. */
export function parseConfigText(text: string, file: string): unknown {
  try {
    return file.endsWith(".json") ? JSON.parse(text) : Bun.TOML.parse(text);
  } catch (e) {
    throw new ConfigSyntaxError(file.endsWith(".json") ? `JSON syntax: ${(e as Error).message}` : tomlSyntaxMessage(text, e));
  }
}

/** "TOML syntax (line 4): ..." for a parse error of `text`. */
function tomlSyntaxMessage(text: string, e: unknown): string {
  const line = tomlErrorLine(text);
  return `TOML syntax${line ? ` (line ${line})` : ""}: ${(e as Error).message.replace(/^TOML Parse error: /, "")}`;
}
