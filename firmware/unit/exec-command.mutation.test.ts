import { describe, expect, test } from "bun:test";
import { expandEnvironment, formatExecCommand, parseExecLine } from "./exec-command.ts";
import { ValueError } from "./values.ts";

const id = (w: string) => w;
const argvs = (v: string) => parseExecLine(v, id).map((c) => c.argv);

function valueError(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(ValueError);
    return (e as Error).message;
  }
  throw new Error("no ValueError thrown");
}
const lineError = (v: string) => valueError(() => parseExecLine(v, id));

describe("Exec*= words", () => {
  test("the path and the arguments are unquoted and C-unescaped", () => {
    expect(parseExecLine(`"/bin/my prog" a\\tb`, id)[0]).toMatchObject({ path: "/bin/my prog", argv: ["/bin/my prog", "a\tb"] });
    expect(parseExecLine("/bin/a\\x2db", id)[0]!.path).toBe("/bin/a-b");
    expect(argvs("/bin/echo \\t x")).toEqual([["/bin/echo", "\t", "x"]]);
  });

  test("unbalanced quotes are ValueErrors, in the path or an argument", () => {
    expect(lineError('"/bin/x')).toBe('unbalanced quoting (missing closing ")');
    expect(lineError('/bin/echo "abc')).toBe('unbalanced quoting (missing closing ")');
  });

  test("empty lines hold no command", () => {
    expect(parseExecLine("", id)).toEqual([]);
    expect(parseExecLine("   ", id)).toEqual([]);
  });
});

describe("';' between commands", () => {
  test("stray separators are skipped; a trailing ';' ends the command", () => {
    expect(argvs("; /bin/true")).toEqual([["/bin/true"]]);
    expect(argvs("/bin/a ; ; /bin/b")).toEqual([["/bin/a"], ["/bin/b"]]);
    expect(argvs("/bin/a b ;")).toEqual([["/bin/a", "b"]]);
    expect(argvs("/bin/a \\;")).toEqual([["/bin/a", ";"]]);
  });

  test("';' or '\\;' only as a whole word", () => {
    expect(argvs("/bin/echo ;b")).toEqual([["/bin/echo", ";b"]]);
    expect(argvs("/bin/echo x; y")).toEqual([["/bin/echo", "x;", "y"]]);
  });
});

describe("prefixes", () => {
  test("'+' and '!' exclude each other, '!!' is one prefix, '|' once", () => {
    for (const v of ["+!/bin/true", "!+/bin/true", "!!!/bin/true", "!!+/bin/true"]) {
      const rest = v.replace(/^(\+|!!|!)/, "");
      expect(lineError(v)).toBe(`"${rest}" is neither a valid executable name nor an absolute path`);
    }
    expect(parseExecLine("|echo hi", id)[0]).toMatchObject({ path: "echo", argv: ["echo", "hi"], viaShell: true });
    expect(parseExecLine("|bin/x", id)[0]).toMatchObject({ path: "bin/x", viaShell: true });
    expect(parseExecLine("/bin/x", id)[0]!.viaShell).toBe(false);
  });

  test("a prefix alone, or '@' without argv[0]", () => {
    expect(lineError("-")).toBe("empty executable path in command line");
    expect(lineError("@/bin/sh")).toBe('command "/bin/sh" has no argv[0] after "@"');
  });

  test("paths: normalized absolute, or a plain name", () => {
    for (const p of ["/usr//bin/x", "/usr/./x", "/./x", "/usr/../x"]) expect(lineError(p)).toBe(`executable path "${p}" is not normalized`);
    for (const p of [".", "..", "a/b"]) expect(lineError(p)).toBe(`"${p}" is neither a valid executable name nor an absolute path`);
    expect(lineError("/usr/bin/")).toBe('executable path "/usr/bin/" specifies a directory');
    expect(parseExecLine("/usr/.hidden/x", id)[0]!.path).toBe("/usr/.hidden/x");
  });

  test("shown as systemctl shows them", () => {
    expect(formatExecCommand(parseExecLine("-:+|/bin/x a b", id)[0]!)).toBe("-:+|/bin/x a b");
    expect(formatExecCommand(parseExecLine("!!/bin/x", id)[0]!)).toBe("!!/bin/x");
    expect(formatExecCommand(parseExecLine("@/bin/sh sh -c", id)[0]!)).toBe("/bin/sh -c");
  });
});

describe("environment expansion", () => {
  test("only valid variable names are looked up", () => {
    expect(expandEnvironment(["$1A", "$A-B", "$A"], { "1A": "x", "A-B": "y", A: "z" })).toEqual(["z"]);
  });

  test("a value with an unbalanced quote still splits", () => {
    expect(expandEnvironment(["$V"], { V: "a 'b" })).toEqual(["a", "b"]);
  });
});
