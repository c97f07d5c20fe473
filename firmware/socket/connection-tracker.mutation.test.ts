import { describe, expect, test } from "bun:test";
import { ConnectionTracker, sourceKey } from "./connection-tracker.ts";

const v4 = (a: number[]) => ({ family: "inet" as const, addr: new Uint8Array(a), port: 1 });
const v6 = (a: number[]) => ({ family: "inet6" as const, addr: new Uint8Array(a), port: 1, scopeId: 0 });

describe("sourceKey", () => {
  test("keys each family", () => {
    expect(sourceKey(null)).toBeNull();
    expect(sourceKey(v4([10, 0, 0, 7]))).toBe("10.0.0.7");
    const mapped = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 168, 1, 2];
    expect(sourceKey(v6(mapped))).toBe("192.168.1.2");
    const plain = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
    expect(sourceKey(v6(plain))).toBe("::1");
    expect(sourceKey({ family: "vsock", cid: 3, port: 9 })).toBe("vsock:3");
    expect(sourceKey({ family: "unix", path: "", abstract: false }, 1000)).toBe("uid:1000");
    expect(sourceKey({ family: "unix", path: "", abstract: false })).toBeNull();
    expect(sourceKey({ family: "netlink", pid: 1, groups: 0 })).toBeNull();
  });
});

describe("ConnectionTracker", () => {
  test("MaxConnections= refuses at the limit and frees on release", () => {
    const t = new ConnectionTracker(2, 0);
    const a = t.admit("x");
    const b = t.admit("x");
    expect(a.ok && b.ok).toBe(true);
    expect(t.nConnections).toBe(2);
    const c = t.admit("y");
    expect(c).toEqual({ ok: false, reason: "max-connections", count: 2 });
    expect(t.nRefused).toBe(1);
    if (!a.ok) throw new Error("a");
    expect(a.source).toBe("x");
    a.release();
    a.release();
    expect(t.nConnections).toBe(1);
    expect(t.admit("y").ok).toBe(true);
  });

  test("MaxConnectionsPerSource= counts per source and deletes emptied entries", () => {
    const t = new ConnectionTracker(10, 2);
    const a = t.admit("p");
    const b = t.admit("p");
    expect(t.connectionsFrom("p")).toBe(2);
    expect(t.admit("p")).toEqual({ ok: false, reason: "per-source", count: 3, source: "p" });
    expect(t.nRefused).toBe(1);
    expect(t.admit("q").ok).toBe(true);
    expect(t.admit(null).ok).toBe(true);
    if (!a.ok || !b.ok) throw new Error("admit");
    a.release();
    expect(t.connectionsFrom("p")).toBe(1);
    b.release();
    expect(t.connectionsFrom("p")).toBe(0);
    expect((t as unknown as { perSource: Map<string, number> }).perSource.has("p")).toBe(false);
    expect(t.nConnections).toBe(2);
  });

  test("per-source 0 means unlimited; null sources are never counted per source", () => {
    const t = new ConnectionTracker(100, 0);
    for (let i = 0; i < 5; i++) expect(t.admit("s").ok).toBe(true);
    expect(t.nRefused).toBe(0);
    const u = new ConnectionTracker(100, 1);
    expect(u.admit(null).ok).toBe(true);
    expect(u.admit(null).ok).toBe(true);
    const r = u.readmit(null);
    // Unidentified peers never get an entry in the per-source map.
    expect((u as unknown as { perSource: Map<string, number> }).perSource.size).toBe(0);
    expect(u.nConnections).toBe(3);
    r();
    expect(u.nConnections).toBe(2);
  });

  test("readmit skips the limits", () => {
    const t = new ConnectionTracker(1, 1);
    t.readmit("s");
    t.readmit("s");
    expect(t.nConnections).toBe(2);
    expect(t.connectionsFrom("s")).toBe(2);
    expect(t.admit("z")).toMatchObject({ ok: false, reason: "max-connections" });
  });
});
