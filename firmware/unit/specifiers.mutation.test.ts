import { describe, expect, test } from "bun:test";
import { TEST_HOST } from "../../test/support/host.ts";
import { expandSpecifiers, type HostFacts, SpecifierError } from "./specifiers.ts";

const expand = (s: string, unit: string, o: { fragmentPath?: string; host?: Partial<HostFacts> } = {}) =>
  expandSpecifiers(s, { unit, ...(o.fragmentPath ? { fragmentPath: o.fragmentPath } : {}), host: { ...TEST_HOST, ...o.host } });

describe("specifiers", () => {
  test("%D, and %d with and without a credentials directory", () => {
    expect(expand("%D", "x.service")).toBe("/usr/share");
    expect(expand("%d", "x.service")).toBe("/run/credentials/x.service");
    expect(expand("%d", "x.service", { host: { credentialsDir: "/run/creds/x" } })).toBe("/run/creds/x");
  });

  test("os-release fields that are not set expand to nothing", () => {
    expect(expand("[%A|%B|%M|%o|%w|%W]", "x.service", { host: { osRelease: {} } })).toBe("[|||||]");
  });

  test("%q is the pretty hostname when there is one", () => {
    expect(expand("%q", "x.service")).toBe("board.example");
    expect(expand("%q", "x.service", { host: { prettyHostname: "Board 1" } })).toBe("Board 1");
  });

  test("%y and %Y: the fragment and its directory, empty without one", () => {
    expect(expand("[%y|%Y]", "x.service")).toBe("[|]");
    expect(expand("%Y", "x.service", { fragmentPath: "/x.service" })).toBe("/");
    expect(expand("%Y", "x.service", { fragmentPath: "x.service" })).toBe("/");
    expect(expand("%Y", "x.service", { fragmentPath: "/etc/u/x.service" })).toBe("/etc/u");
  });

  test("names that are not unit names, and plain units, have no instance", () => {
    expect(expand("[%i|%I|%p|%N]", "not a unit")).toBe("[||not a unit|not a unit]");
    expect(expand("[%i|%I]", "x.service")).toBe("[|]");
  });

  test("%f keeps a leading slash of the instance", () => {
    expect(expand("%f", "foo@\\x2fa.service")).toBe("/a");
    expect(expand("%f", "foo@a.service")).toBe("/a");
  });

  test("%j and %J: after the last dash, or the whole prefix", () => {
    expect(expand("%j|%J", "foo.service")).toBe("foo|foo");
    expect(expand("%j|%J", "-foo.service")).toBe("foo|foo");
    expect(expand("%j|%J", "a-b\\x2dc.service")).toBe("b\\x2dc|b-c");
  });

  test("unknown specifiers are named in the error", () => {
    try {
      expand("a%Zb", "x.service");
      throw new Error("no error");
    } catch (e) {
      expect(e).toBeInstanceOf(SpecifierError);
      expect((e as Error).name).toBe("SpecifierError");
      expect((e as Error).message).toBe('unknown specifier %Z in "a%Zb"');
    }
    expect(() => expand("50%", "x.service")).toThrow('incomplete specifier at the end of "50%"');
    expect(expand("no specifiers", "x.service")).toBe("no specifiers");
  });
});
