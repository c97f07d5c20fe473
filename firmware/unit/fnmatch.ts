/**
 * fnmatch(3) as a RegExp, for the places systemd matches a name against a shell pattern: `*`,
 * `?` and `[...]` (negated by `!` or `^`, with ranges). There is no FNM_PATHNAME or FNM_PERIOD:
 * `*` matches `/` and a leading `.`. A `[` without its `]` is an ordinary character. Pure.
 */

export interface FnmatchFlags {
  /** FNM_NOESCAPE: `\` is an ordinary character. Without it, `\` quotes the character after it. */
  noEscape?: boolean;
  /** FNM_CASEFOLD: letters match without regard to case. */
  caseFold?: boolean;
}

/** The pattern as a RegExp that matches a whole string, or nothing. */
export function fnmatchRegExp(pattern: string, flags: FnmatchFlags = {}): RegExp {
  let re = "";
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === "*") re += ".*";
    else if (c === "?") re += ".";
    else if (c === "\\" && !flags.noEscape && i + 1 < pattern.length) re += escapeRe(pattern[++i]!);
    else if (c === "[") {
      const end = pattern.indexOf("]", i + 2);
      if (end < 0) {
        re += "\\[";
        continue;
      }
      let body = pattern.slice(i + 1, end);
      const negate = body[0] === "!" || body[0] === "^";
      if (negate) body = body.slice(1);
      re += `[${negate ? "^" : ""}${body.replace(/[\\\]^]/g, "\\$&")}]`;
      i = end;
    } else re += escapeRe(c);
  }
  return new RegExp(`^${re}$`, flags.caseFold ? "i" : "");
}

/** fnmatch(pattern, s, flags) == 0. */
export function fnmatch(pattern: string, s: string, flags: FnmatchFlags = {}): boolean {
  return fnmatchRegExp(pattern, flags).test(s);
}

function escapeRe(c: string): string {
  return c.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
}

/**
 * A pattern for unit names as systemd matches them (systemctl's PATTERN arguments, preset
 * rules in install.c's query_presets()): fnmatch with FNM_NOESCAPE, since `\` is a character of
 * unit names (`\x2d`).
 */
export function unitPatternRegExp(pattern: string): RegExp {
  return fnmatchRegExp(pattern, { noEscape: true });
}
