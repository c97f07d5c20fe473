import { describe, expect, test } from "bun:test";
import { cescapeName, connectionEnvironment, describePeer } from "./instance-name.ts";

const unix = (path: string, abstract = false) => ({ family: "unix" as const, path, abstract });

describe("connection variables (systemd v257+ service_spawn_internal)", () => {
  test("inet, inet6 (v4-mapped shown as v4) and vsock peers: REMOTE_ADDR and REMOTE_PORT", () => {
    expect(connectionEnvironment({ local: null, peer: { family: "inet", addr: new Uint8Array([10, 0, 0, 2]), port: 4444 }, cookie: 7n })).toEqual({
      REMOTE_ADDR: "10.0.0.2",
      REMOTE_PORT: "4444",
      SO_COOKIE: "7",
    });
    const mapped = new Uint8Array(16);
    mapped.set([0xff, 0xff, 127, 0, 0, 1], 10);
    expect(connectionEnvironment({ local: null, peer: { family: "inet6", addr: mapped, port: 1, scopeId: 0 }, cookie: null })).toEqual({
      REMOTE_ADDR: "127.0.0.1",
      REMOTE_PORT: "1",
    });
    expect(connectionEnvironment({ local: null, peer: { family: "vsock", cid: 3, port: 9 }, cookie: null })).toEqual({
      REMOTE_ADDR: "vsock:3",
      REMOTE_PORT: "9",
    });
  });

  test("unix peers: only absolute or abstract names, escaped, never a port", () => {
    const env = (p: ReturnType<typeof unix>) => connectionEnvironment({ local: null, peer: p, cookie: null });
    expect(env(unix(""))).toEqual({});
    expect(env(unix("", true))).toEqual({});
    expect(env(unix("127.0.0.1"))).toEqual({});
    expect(env(unix("./x"))).toEqual({});
    expect(env(unix("/run/a b"))).toEqual({ REMOTE_ADDR: "/run/a b" });
    expect(env(unix("/x\ny"))).toEqual({ REMOTE_ADDR: "/x\\ny" });
    expect(env(unix("n\0m", true))).toEqual({ REMOTE_ADDR: "@n\\000m" });
  });

  test("cescape: named escapes, octal for other control bytes and every byte of non-ASCII", () => {
    expect(cescapeName("a\x07\b\f\n\r\t\v\\\"'z")).toBe("a\\a\\b\\f\\n\\r\\t\\v\\\\\\\"\\'z");
    expect(cescapeName("\x1b[2J\x7f")).toBe("\\033[2J\\177");
    expect(cescapeName("é")).toBe("\\303\\251");
  });

  test("the description of a unix peer without credentials is its escaped name", () => {
    expect(describePeer({ local: null, peer: unix("/x\x1b]0;owned\x07"), cookie: null })).toBe("/x\\033]0;owned\\a");
    expect(describePeer({ local: null, peer: unix(""), cookie: null })).toBe("<unnamed>");
    expect(describePeer({ local: null, peer: unix("/x"), cookie: null, cred: { pid: 5, uid: 0 } })).toBe("pid 5, uid 0");
  });
});
