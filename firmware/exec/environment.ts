/**
 * A process's environment, merged in systemd's order (exec-invoke.c): the manager's
 * environment, then bunit's own variables (LISTEN_*, USER/HOME/..., REMOTE_ADDR...), then
 * PassEnvironment=, Environment=, EnvironmentFile=; UnsetEnvironment= last. Pure.
 */

export const DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

export interface EnvironmentInput {
  manager: Record<string, string>;
  own: Record<string, string>;
  /** PassEnvironment= names, looked up in daemonEnv. */
  pass: readonly string[];
  daemonEnv: Readonly<Record<string, string | undefined>>;
  unit: readonly [string, string][];
  files: readonly [string, string][];
  unset: readonly string[];
}

export function buildEnvironment(i: EnvironmentInput): Record<string, string> {
  const env: Record<string, string> = { ...i.manager, ...i.own };
  for (const name of i.pass) {
    const v = i.daemonEnv[name];
    if (v !== undefined) env[name] = v;
  }
  for (const [k, v] of i.unit) env[k] = v;
  for (const [k, v] of i.files) env[k] = v;
  for (const u of i.unset) {
    const eq = u.indexOf("=");
    if (eq < 0) delete env[u];
    else if (env[u.slice(0, eq)] === u.slice(eq + 1)) delete env[u.slice(0, eq)];
  }
  return env;
}

export class EnvFileError extends Error {
  constructor(
    readonly file: string,
    readonly line: number,
    message: string,
  ) {
    super(`${file}:${line}: ${message}`);
    this.name = "EnvFileError";
  }
}

/**
 * Parses an EnvironmentFile= (systemd's load_env_file()): KEY=VALUE lines, '#' and ';'
 * comments, single and double quotes, backslash escapes and continuation lines.
 */
export function parseEnvFile(text: string, file: string): [string, string][] {
  const out: [string, string][] = [];
  let i = 0;
  let line = 1;
  const n = text.length;
  const skipLine = () => {
    while (i < n && text[i] !== "\n") i++;
  };
  while (i < n) {
    // Leading whitespace and blank lines.
    while (i < n && (text[i] === " " || text[i] === "\t" || text[i] === "\r")) i++;
    if (i >= n) break;
    if (text[i] === "\n") {
      i++;
      line++;
      continue;
    }
    if (text[i] === "#" || text[i] === ";") {
      skipLine();
      continue;
    }
    const startLine = line;
    let key = "";
    while (i < n && text[i] !== "=" && text[i] !== "\n") key += text[i++];
    key = key.trim();
    if (key.startsWith("export ")) key = key.slice(7).trim();
    if (i >= n || text[i] !== "=") {
      throw new EnvFileError(file, startLine, `missing '=' after "${key}"`);
    }
    i++;
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) throw new EnvFileError(file, startLine, `"${key}" is not a valid variable name`);
    let value = "";
    let pendingSpace = "";
    let started = false;
    while (i < n && text[i] !== "\n") {
      const c = text[i]!;
      if (c === "'") {
        value += pendingSpace;
        pendingSpace = "";
        i++;
        while (i < n && text[i] !== "'") {
          if (text[i] === "\n") line++;
          value += text[i++];
        }
        if (i >= n) throw new EnvFileError(file, startLine, "unterminated single quote");
        i++;
        started = true;
      } else if (c === '"') {
        value += pendingSpace;
        pendingSpace = "";
        i++;
        while (i < n && text[i] !== '"') {
          if (text[i] === "\\" && i + 1 < n) {
            const next = text[i + 1]!;
            if (next === "\n") {
              line++;
              i += 2;
              continue;
            }
            if ('"\\`$'.includes(next)) {
              value += next;
              i += 2;
              continue;
            }
          }
          if (text[i] === "\n") line++;
          value += text[i++];
        }
        if (i >= n) throw new EnvFileError(file, startLine, "unterminated double quote");
        i++;
        started = true;
      } else if (c === "\\") {
        const next = text[i + 1];
        if (next === "\n") {
          line++;
          i += 2;
          continue;
        }
        value += pendingSpace + (next ?? "");
        pendingSpace = "";
        i += 2;
        started = true;
      } else if (c === " " || c === "\t" || c === "\r") {
        if (started) pendingSpace += c;
        i++;
      } else {
        value += pendingSpace + c;
        pendingSpace = "";
        i++;
        started = true;
      }
    }
    out.push([key, value]);
  }
  return out;
}
