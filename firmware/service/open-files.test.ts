import { describe, expect, test } from "bun:test";
import { FakeHost, unitFromText } from "../testing/fake-host.ts";
import { parseOpenFile, type OpenFileSpec } from "../unit/service-config.ts";
import { ServiceUnit } from "./service-unit.ts";

describe("OpenFile=", () => {
  test("PATH[:FDNAME[:OPTIONS]]: the name defaults to the file's; options read-only, append, truncate, graceful", () => {
    expect(parseOpenFile("/run/a.sock")).toEqual({ path: "/run/a.sock", name: "a.sock", mode: "read-write", graceful: false });
    expect(parseOpenFile("/run/x:data:read-only,graceful")).toEqual({ path: "/run/x", name: "data", mode: "read-only", graceful: true });
    expect(parseOpenFile("/run/x::append").mode).toBe("append");
    for (const bad of ["run/x", "/run/x:n:read-only,append", "/run/x:n:bogus", "/a:b:c:d"]) expect(() => parseOpenFile(bad)).toThrow();
  });

  function make(service: string, files: Record<string, number | "missing">) {
    const h = new FakeHost();
    const opened: OpenFileSpec[] = [];
    h.fileOpener = {
      open: (spec) => {
        opened.push(spec);
        const fd = files[spec.path];
        if (fd === undefined || fd === "missing") throw Object.assign(new Error("ENOENT"), { code: "ENOENT" });
        return fd;
      },
    };
    h.serviceFds.set("a.service", [{ fd: 7, name: "web" }]);
    const s = h.add(new ServiceUnit(unitFromText("a.service", `[Service]\n${service}\n`), h));
    return { h, s, opened };
  }

  test("the files follow the socket fds, with their names; the daemon's copies are closed after the spawn", () => {
    const { h, s } = make("ExecStart=/bin/main\nOpenFile=/srv/data:data:read-only\nOpenFile=/srv/log::append", { "/srv/data": 40, "/srv/log": 41 });
    s.start();
    const p = h.spawner.last("/bin/main");
    expect(p.spec.fds).toEqual([7, 40, 41]);
    expect([p.spec.env.LISTEN_FDS, p.spec.env.LISTEN_FDNAMES]).toEqual(["3", "web:data:log"]);
    expect(h.closedFds).toEqual([40, 41]);
  });

  test("a missing file fails the start with status 202 (FDS); with graceful it is skipped", async () => {
    const bad = make("Type=oneshot\nExecStart=/bin/true\nOpenFile=/run/missing/foo:missing-file:read-only", {});
    bad.s.start();
    await bad.h.settle();
    expect([bad.s.subState(), bad.s.result, bad.s.mainExit]).toEqual(["failed", "exit-code", { code: 202, signal: null }]);
    expect(bad.h.spawner.spawned).toHaveLength(0);
    const ok = make("Type=oneshot\nExecStart=/bin/true\nOpenFile=/run/missing/foo:missing-file:read-only,graceful", {});
    ok.s.start();
    ok.h.spawner.last("/bin/true").exit(0);
    await ok.h.settle();
    expect([ok.s.subState(), ok.s.result, ok.s.mainExit]).toEqual(["dead", "success", { code: 0, signal: null }]);
  });
});
