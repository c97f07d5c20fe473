/**
 * Command lines of Exec*= directives (systemd.service(5) "Command lines"):
 * prefixes "@", "-", ":", "+", "!", "!!", "|"; quoting and C escapes; ";" between commands
 * ("\;" is a literal semicolon argument); specifiers expanded per word at load time and
 * environment variables ($FOO split, ${FOO} exact) at run time. Pure.
 */
import { extractFirstWord, splitWords, WordError } from "./words.ts";
import { ValueError } from "./values.ts";

export interface ExecCommand {
  /** Absolute path, or a bare name to be looked up in the search path at start. */
  path: string;
  argv: string[];
  /** "-": failure (non-zero exit) is recorded but ignored. */
  ignoreFailure: boolean;
  /** ":": no environment variable substitution. */
  noEnvExpand: boolean;
  /** "+": run with full privileges (User=/Group= not applied). */
  privileged: boolean;
  /** "!" / "!!": credential changes without the sandbox (treated like a normal command here). */
  ambient: "" | "!" | "!!";
  /** "|": run through the user's shell (systemd v258). */
  viaShell: boolean;
}

const PREFIX_CHARS = "@-:+!|";

/**
 * Parses one Exec*= value (which may hold several commands separated by ";").
 * expandWord applies specifier expansion to each word; it may throw.
 */
export function parseExecLine(value: string, expandWord: (w: string) => string): ExecCommand[] {
  const out: ExecCommand[] = [];
  let pos = 0;
  for (;;) {
    let first: { word: string; next: number } | null;
    try {
      first = extractFirstWord(value, pos, { unquote: true, cunescape: true });
    } catch (e) {
      throw new ValueError(e instanceof WordError ? e.message : String(e));
    }
    if (!first) break;
    pos = first.next;
    let f = first.word;
    if (f === ";") continue;
    let ignoreFailure = false,
      separateArgv0 = false,
      noEnvExpand = false,
      privileged = false,
      viaShell = false;
    let ambient: "" | "!" | "!!" = "";
    let i = 0;
    for (; i < f.length && PREFIX_CHARS.includes(f[i]!); i++) {
      const c = f[i]!;
      if (c === "-" && !ignoreFailure) ignoreFailure = true;
      else if (c === "@" && !separateArgv0) separateArgv0 = true;
      else if (c === ":" && !noEnvExpand) noEnvExpand = true;
      else if (c === "+" && !privileged && !ambient) privileged = true;
      else if (c === "!" && !privileged && ambient === "") ambient = f[i + 1] === "!" ? (i++, "!!") : "!";
      else if (c === "|" && !viaShell) viaShell = true;
      else break;
    }
    f = f.slice(i);
    if (f === "") throw new ValueError("empty executable path in command line");
    const path = expandWord(f);
    if (path.endsWith("/")) throw new ValueError(`executable path "${path}" specifies a directory`);
    if (path.startsWith("/")) {
      if (
        path
          .split("/")
          .slice(1)
          .some((c) => c === "" || c === "." || c === "..")
      )
        throw new ValueError(`executable path "${path}" is not normalized`);
    } else if (!viaShell && (path.includes("/") || path === "." || path === "..")) {
      throw new ValueError(`"${path}" is neither a valid executable name nor an absolute path`);
    }
    const argv: string[] = [];
    let ended = false;
    if (!separateArgv0) argv.push(path);
    const isWs = (c: string | undefined) => c === undefined || " \t\n\r".includes(c);
    for (;;) {
      while (pos < value.length && isWs(value[pos])) pos++;
      if (pos >= value.length) break;
      // An unquoted ";" ends the command; "\;" is a literal ";" argument (checked on the raw
      // text, as extraction would make "\;", "\\;" and "\";\"" look alike).
      if (value[pos] === ";" && isWs(value[pos + 1])) {
        pos++;
        ended = true;
        break;
      }
      if (value[pos] === "\\" && value[pos + 1] === ";" && isWs(value[pos + 2])) {
        pos += 2;
        argv.push(";");
        continue;
      }
      let w: { word: string; next: number } | null;
      try {
        w = extractFirstWord(value, pos, { unquote: true, cunescape: true });
      } catch (e) {
        throw new ValueError(e instanceof WordError ? e.message : String(e));
      }
      if (!w) break;
      pos = w.next;
      argv.push(expandWord(w.word));
    }
    if (argv.length === 0) throw new ValueError(`command "${path}" has no argv[0] after "@"`);
    out.push({ path, argv, ignoreFailure, noEnvExpand, privileged, ambient, viaShell });
    if (!ended) break;
  }
  return out;
}

/**
 * systemd's replace_env_argv(): a word that is exactly "$FOO" is replaced by FOO's value split
 * at whitespace (zero or more words); inside a word only "${FOO}" is replaced (exactly) and "$$"
 * becomes "$". A bare "$FOO" inside a word, and "${FOO:-x}", stay as they are.
 */
export function expandEnvironment(argv: readonly string[], env: Readonly<Record<string, string>>): string[] {
  const out: string[] = [];
  for (const word of argv) {
    if (word[0] === "$" && word[1] !== "{" && word[1] !== "$") {
      const name = word.slice(1);
      const v = /^[A-Za-z_][A-Za-z0-9_]*$/.test(name) ? env[name] : undefined;
      if (v !== undefined) out.push(...splitWords(v, { unquote: true, relax: true }));
      continue;
    }
    out.push(word.replace(/\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (m, name: string | undefined) => (m === "$$" ? "$" : (env[name!] ?? ""))));
  }
  return out;
}

/** How systemctl shows a command. */
export function formatExecCommand(c: ExecCommand): string {
  const prefix = `${c.ignoreFailure ? "-" : ""}${c.noEnvExpand ? ":" : ""}${c.privileged ? "+" : ""}${c.ambient}${c.viaShell ? "|" : ""}`;
  return `${prefix}${c.path} ${c.argv.slice(1).join(" ")}`.trim();
}
