import { describe, expect, test } from "bun:test";
import { expandEnvironment, parseExecLine } from "./exec-command.ts";
import { ValueError } from "./values.ts";

const id = (w: string) => w;

describe("Exec*= command lines", () => {
  test("path and arguments with quoting", () => {
    expect(parseExecLine(`/usr/bin/foo -a "b c" 'd'`, id)).toEqual([
      {
        path: "/usr/bin/foo",
        argv: ["/usr/bin/foo", "-a", "b c", "d"],
        ignoreFailure: false,
        noEnvExpand: false,
        privileged: false,
        ambient: "",
        viaShell: false,
      },
    ]);
  });

  test("prefixes", () => {
    const [c] = parseExecLine("-@:/bin/sh sh -c true", id);
    expect(c).toMatchObject({ path: "/bin/sh", argv: ["sh", "-c", "true"], ignoreFailure: true, noEnvExpand: true });
    expect(parseExecLine("+/bin/true", id)[0]!.privileged).toBe(true);
    expect(parseExecLine("!!/bin/true", id)[0]!.ambient).toBe("!!");
    expect(parseExecLine("!/bin/true", id)[0]!.ambient).toBe("!");
  });

  test("several commands separated by ';', and the literal '\\;'", () => {
    const cs = parseExecLine("/bin/echo a ; /bin/echo b \\; c", id);
    expect(cs.map((c) => c.argv)).toEqual([
      ["/bin/echo", "a"],
      ["/bin/echo", "b", ";", "c"],
    ]);
  });

  test("bare names are allowed, paths must be normalized", () => {
    expect(parseExecLine("true", id)[0]!.path).toBe("true");
    expect(() => parseExecLine("bin/true", id)).toThrow(/neither a valid executable name/);
    expect(() => parseExecLine("/usr/bin/", id)).toThrow(/directory/);
    expect(() => parseExecLine("/usr/../bin/x", id)).toThrow(/normalized/);
    expect(() => parseExecLine("-", id)).toThrow(ValueError);
  });

  test("specifiers are expanded per word", () => {
    expect(parseExecLine("/bin/echo %i", (w) => w.replace("%i", "x y"))[0]!.argv).toEqual(["/bin/echo", "x y"]);
  });

  test("environment: a whole-word $FOO splits, ${FOO} is exact, $$ is a dollar, $FOO inside a word stays", () => {
    const env = { FOO: "a  b", EMPTY: "", Q: "'one two' three" };
    expect(expandEnvironment(["cmd", "$FOO", "x${FOO}y", "$$HOME", "$EMPTY", "$UNSET", "${UNSET}", "in$FOO", "${FOO:-d}", "$Q", "$1"], env)).toEqual([
      "cmd",
      "a",
      "b",
      "xa  by",
      "$HOME",
      "",
      "in$FOO",
      "${FOO:-d}",
      "one two",
      "three",
    ]);
  });
});
