import { describe, expect, test } from "bun:test";
import { formatDiagnostic } from "./diagnostics.ts";
import { parseUnitText } from "./ini-syntax.ts";
import {
  applySection,
  bool,
  iecSize,
  integer,
  list,
  mode,
  noEffect,
  oneOf,
  optBool,
  path,
  type SectionSchema,
  signal,
  string,
  timespan,
  timespanFix0,
  unsigned,
  unsupported,
} from "./section-schema.ts";
import { SpecifierError } from "./specifiers.ts";
import { ValueError } from "./values.ts";
import { WordError } from "./words.ts";

type Cfg = Record<string, unknown> & { l: string[] };
const set = (k: string) => (c: Cfg, v: unknown) => {
  c[k] = v;
};

const SCHEMA: SectionSchema<Cfg> = {
  Bool: bool(set("bool")),
  OptBool: optBool(set("optBool")),
  Unsigned: unsigned(set("unsigned")),
  Small: unsigned(set("small"), 10),
  Integer: integer(set("integer")),
  Ranged: integer(set("ranged"), -5, 5),
  Time: timespan(set("time")),
  TimeFix0: timespanFix0(set("fix0")),
  Size: iecSize(set("size")),
  Mode: mode(set("mode")),
  Signal: signal(set("signal")),
  Str: string(set("str")),
  Raw: string(set("raw"), { raw: true }),
  Path: path(set("path")),
  Choice: oneOf(["a", "b"] as const, set("choice")),
  List: list((c) => c.l),
  RawList: list((c) => c.l, { expand: false }),
  Checked: list((c) => c.l, {
    check: (w) => {
      if (w.startsWith("x")) throw new ValueError(`"${w}" starts with x`);
    },
  }),
  NoEffect: noEffect("bunit ignores it", bool(set("noEffect"))),
  Plain: noEffect("bunit ignores this one too"),
  Unsupported: unsupported("not here"),
  Validated: unsupported("not here either", (v) => {
    if (v === "bad") throw new ValueError("bad value");
  }),
  Specifier: () => {
    throw new SpecifierError("unknown specifier %Q");
  },
  Words: () => {
    throw new WordError("unbalanced quoting");
  },
  Crash: () => {
    throw new TypeError("a bug");
  },
};

/** Applies `body` (line 2 onwards of u.service, section [Service]); "%n" expands to the unit name. */
function apply(body: string, quiet?: ReadonlySet<string>): { c: Cfg; diags: string[] } {
  const p = parseUnitText(`[Service]\n${body}\n`, "u.service");
  const c: Cfg = { l: [] };
  const ds = applySection(SCHEMA, c, p.assignments, { unit: "u.service", expand: (s) => s.replaceAll("%n", "u.service"), ...(quiet ? { quiet } : {}) });
  return { c, diags: ds.map(formatDiagnostic) };
}
const value = (line: string, key: string) => {
  const r = apply(line);
  expect(r.diags).toEqual([]);
  return r.c[key];
};
const error = (line: string) => apply(line).diags;

describe("applySection", () => {
  test("unknown keys: X- ignored, systemd's noticed (unless quiet), others warned", () => {
    expect(apply("X-Custom=1\nUser=root\nBogus=1").diags).toEqual([
      "u.service:3: notice: User=: not supported by bunit, ignoring",
      "u.service:4: warning: Bogus=: Unknown key name 'Bogus' in section 'Service', ignoring.",
    ]);
    expect(apply("User=root\nGroup=x", new Set(["User"])).diags).toEqual(["u.service:3: notice: Group=: not supported by bunit, ignoring"]);
    expect(apply("__proto__=x\nconstructor=y").diags).toEqual([
      "u.service:2: warning: __proto__=: Unknown key name '__proto__' in section 'Service', ignoring.",
      "u.service:3: warning: constructor=: Unknown key name 'constructor' in section 'Service', ignoring.",
    ]);
  });

  test("a section systemd does not have: every key is unknown", () => {
    const p = parseUnitText("[Custom]\nUser=root\n", "u.service");
    const ds = applySection(SCHEMA, { l: [] }, p.assignments, { unit: "u.service", expand: (s) => s });
    expect(ds.map(formatDiagnostic)).toEqual(["u.service:2: warning: User=: Unknown key name 'User' in section 'Custom', ignoring."]);
  });

  test("value, specifier and word errors are reported with file, line and directive; anything else is a bug", () => {
    expect(apply("Bool=maybe\nSpecifier=x\nWords=x").diags).toEqual([
      'u.service:2: error: Bool=: "maybe" is not a boolean (use yes/no, true/false, on/off, 1/0)',
      "u.service:3: error: Specifier=: unknown specifier %Q",
      "u.service:4: error: Words=: unbalanced quoting",
    ]);
    expect(() => apply("Crash=1")).toThrow(TypeError);
  });
});

describe("combinators", () => {
  test("booleans: an empty optional boolean is unset", () => {
    expect(value("Bool=yes", "bool")).toBe(true);
    expect(value("OptBool=no", "optBool")).toBe(false);
    expect(value("OptBool=yes\nOptBool=", "optBool")).toBeUndefined();
  });

  test("numbers with their bounds; empty is unset", () => {
    expect(value("Unsigned=0x10", "unsigned")).toBe(16);
    expect(value("Unsigned=5\nUnsigned=", "unsigned")).toBeUndefined();
    expect(value("Small=10", "small")).toBe(10);
    expect(error("Small=11")).toEqual(["u.service:2: error: Small=: 11 is out of range (maximum 10)"]);
    expect(value("Integer=-7", "integer")).toBe(-7);
    expect(value("Integer=5\nInteger=", "integer")).toBeUndefined();
    expect(value("Ranged=-5", "ranged")).toBe(-5);
    expect(error("Ranged=6")).toEqual(["u.service:2: error: Ranged=: 6 is out of range (-5..5)"]);
  });

  test("time spans: 0 means infinity where systemd says so", () => {
    expect(value("Time=1min", "time")).toBe(60e6);
    expect(value("Time=0", "time")).toBe(0);
    expect(value("Time=5\nTime=", "time")).toBeUndefined();
    expect(value("TimeFix0=0", "fix0")).toBe(Infinity);
    expect(value("TimeFix0=2s", "fix0")).toBe(2e6);
    expect(value("TimeFix0=5\nTimeFix0=", "fix0")).toBeUndefined();
    expect(error("TimeFix0=x")).toEqual(['u.service:2: error: TimeFix0=: "x" is not a time span (examples: 10s, 500ms, 1min 30s, infinity)']);
  });

  test("sizes, modes, signals; empty is unset", () => {
    expect(value("Size=2K", "size")).toBe(2048);
    expect(value("Size=5\nSize=", "size")).toBeUndefined();
    expect(value("Mode=0640", "mode")).toBe(0o640);
    expect(value("Mode=0640\nMode=", "mode")).toBeUndefined();
    expect(value("Signal=TERM", "signal")).toBe(15);
    expect(value("Signal=TERM\nSignal=", "signal")).toBeUndefined();
  });

  test("strings: specifiers expanded unless raw; empty is unset", () => {
    expect(value("Str=%n", "str")).toBe("u.service");
    expect(value("Raw=%n", "raw")).toBe("%n");
    expect(value("Str=x\nStr=", "str")).toBeUndefined();
    expect(value("Raw=x\nRaw=", "raw")).toBeUndefined();
  });

  test("paths: expanded, absolute and normalized", () => {
    expect(value("Path=/run/%n", "path")).toBe("/run/u.service");
    expect(value("Path=/a\nPath=", "path")).toBeUndefined();
    expect(error("Path=/a/../b")).toEqual(['u.service:2: error: Path=: "/a/../b" is not an absolute, normalized path']);
  });

  test("one of a few words", () => {
    expect(value("Choice=b", "choice")).toBe("b");
    expect(value("Choice=a\nChoice=", "choice")).toBeUndefined();
    expect(error("Choice=c")).toEqual(['u.service:2: error: Choice=: "c" is not one of: a, b']);
  });

  test("lists: quoted words appended, specifiers expanded unless told not to, checked, reset by empty", () => {
    expect(value('List=a "b c"\nList=%n', "l")).toEqual(["a", "b c", "u.service"]);
    expect(value("RawList=%n", "l")).toEqual(["%n"]);
    expect(value("List=a\nList=\nList=b", "l")).toEqual(["b"]);
    expect(apply("Checked=a xb c").diags).toEqual(['u.service:2: error: Checked=: "xb" starts with x']);
    expect(apply("Checked=a xb c").c.l).toEqual(["a"]);
  });

  test("no-effect and unsupported settings: parsed, then noticed unless empty", () => {
    expect(apply("NoEffect=yes").diags).toEqual(["u.service:2: notice: NoEffect=: bunit ignores it, ignoring"]);
    expect(apply("NoEffect=yes").c.noEffect).toBe(true);
    expect(apply("NoEffect=").diags).toEqual(['u.service:2: error: NoEffect=: "" is not a boolean (use yes/no, true/false, on/off, 1/0)']);
    expect(apply("Plain=x\nPlain=").diags).toEqual(["u.service:2: notice: Plain=: bunit ignores this one too, ignoring"]);
    expect(apply("Unsupported=1\nUnsupported=").diags).toEqual(["u.service:2: notice: Unsupported=: not here"]);
    expect(apply("Validated=bad").diags).toEqual(["u.service:2: error: Validated=: bad value"]);
    expect(apply("Validated=ok").diags).toEqual(["u.service:2: notice: Validated=: not here either"]);
  });
});
