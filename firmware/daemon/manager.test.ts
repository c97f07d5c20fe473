/**
 * The manager over unit files in a temporary directory, with the fake host's clock, spawner,
 * killer and fd watcher injected: no real process runs; sockets open real AF_UNIX paths.
 * Observable behaviour only: start/stop/boot/shutdown and the units' states.
 */
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as n from "../native.ts";
import * as C from "../sys/constants.ts";
import { FakeHost } from "../testing/fake-host.ts";
import { Manager } from "./manager.ts";

const SEC = 1_000_000;
const SIGTERM = 15;

let dir: string;
let units: string;
let f: FakeHost;
let m: Manager;
const clients: number[] = [];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "bunit-mgr-"));
  units = join(dir, "units");
  mkdirSync(units);
  f = new FakeHost();
  f.clock.fake.advance(SEC); // a monotonic clock never reads 0
});

afterEach(async () => {
  await m?.shutdown(SEC);
  for (const fd of clients.splice(0)) n.close(fd);
  rmSync(dir, { recursive: true, force: true });
});

/** Writes unit files ("%d" in them is the temporary directory), then builds the manager. */
function manager(files: Record<string, string>): Manager {
  for (const [name, text] of Object.entries(files)) writeFileSync(join(units, name), text.replaceAll("%d", dir));
  m = new Manager({
    unitPath: [units],
    ...f.managerParts(),
  });
  return m;
}

const service = (exec: string, extra = "") => `[Service]\nExecStart=${exec}\n${extra}\n`;

function state(name: string): string {
  return m.unit(name)?.activeState() ?? "not loaded";
}

/** The listening fd of a socket unit, found through the fd watcher (the socket registered it). */
function listeningFd(socketPath: string): number {
  for (const fd of f.watcher.handlers.keys()) {
    try {
      const a = n.getsockname(fd);
      if (a?.family === "unix" && a.path === socketPath) return fd;
    } catch {
      /* not a socket */
    }
  }
  throw new Error(`no watched socket bound to ${socketPath}`);
}

function connect(path: string): number {
  const fd = n.socket(C.AF_UNIX, C.SOCK_STREAM | C.SOCK_CLOEXEC);
  clients.push(fd);
  n.connect(fd, { family: "unix", path, abstract: false });
  return fd;
}

describe("boot", () => {
  test("default.target pulls in enabled units through the standard targets; others stay unloaded", async () => {
    manager({
      "a.service": service("/bin/a", "[Install]\nWantedBy=multi-user.target"),
      "e.socket": "[Socket]\nListenStream=%d/e.sock\n[Install]\nWantedBy=sockets.target\n",
      "e.service": service("/bin/e"),
      "off.service": service("/bin/off"),
    });
    expect(await m.boot()).toBe("done");
    await f.settle();
    expect(state("default.target")).toBe("active");
    expect(state("multi-user.target")).toBe("active");
    expect(state("sockets.target")).toBe("active");
    expect(state("a.service")).toBe("active");
    expect(state("e.socket")).toBe("active");
    expect(m.unit("e.socket")?.subState()).toBe("listening");
    expect(state("e.service")).toBe("inactive");
    expect(f.spawner.names()).toEqual(["/bin/a"]);
    expect(m.loadedUnits().map((u) => u.name)).not.toContain("off.service");
  });

  test("sockets are listening before the services ordered after sockets.target start", async () => {
    manager({
      "a.service": service("/bin/a", "[Install]\nWantedBy=multi-user.target"),
      "e.socket": "[Socket]\nListenStream=%d/e.sock\n[Install]\nWantedBy=sockets.target\n",
      "e.service": service("/bin/e"),
    });
    let socketAtSpawn = "";
    const spawn = f.spawner.spawn.bind(f.spawner);
    f.spawner.spawn = (spec, out) => {
      socketAtSpawn = m.unit("e.socket")?.subState() ?? "";
      return spawn(spec, out);
    };
    await m.boot();
    expect(socketAtSpawn).toBe("listening"); // a.service is After=basic.target, After=sockets.target
  });
});

describe("socket activation", () => {
  test("a connection starts the service with the socket's fd; its exit returns the socket to listening", async () => {
    manager({
      "e.socket": "[Socket]\nListenStream=%d/e.sock\n",
      "e.service": service("/bin/e"),
    });
    expect(await m.start("e.socket")).toBe("done");
    const fd = listeningFd(`${dir}/e.sock`);
    connect(`${dir}/e.sock`);
    expect(f.watcher.fire(fd, C.EPOLLIN)).toBe(true);
    await f.settle();
    expect(state("e.service")).toBe("active");
    expect(m.unit("e.socket")?.subState()).toBe("running");
    const p = f.spawner.last("/bin/e");
    expect(p.spec.fds).toEqual([fd]);
    expect(p.spec.env.LISTEN_FDS).toBe("1");
    expect(p.spec.env.LISTEN_FDNAMES).toBe("e.socket");
    p.exit(0);
    await f.settle();
    expect(state("e.service")).toBe("inactive");
    expect(m.unit("e.socket")?.subState()).toBe("listening");
  });

  test("Accept=yes: each connection gets an instance, collected when it ends", async () => {
    manager({
      "echo.socket": "[Socket]\nListenStream=%d/echo.sock\nAccept=yes\n",
      "echo@.service": "[Service]\nExecStart=/bin/echo-server\nStandardInput=socket\n",
    });
    await m.start("echo.socket");
    const fd = listeningFd(`${dir}/echo.sock`);
    connect(`${dir}/echo.sock`);
    f.watcher.fire(fd, C.EPOLLIN);
    await f.settle();
    const instances = m.loadedUnits().filter((u) => u.name.startsWith("echo@"));
    expect(instances.length).toBe(1);
    const inst = instances[0]!;
    expect(inst.name).toMatch(/^echo@0-\d+-\d+-\d+\.service$/);
    expect(inst.activeState()).toBe("active");
    const p = f.spawner.last("/bin/echo-server");
    expect(p.spec.stdin.kind).not.toBe("null");
    p.exit(0);
    await f.settle();
    expect(m.loadedUnits().some((u) => u.name.startsWith("echo@"))).toBe(false);
  });

  // systemd's TEST-07-PID1.issue-2467: a service whose Condition*= fails is skipped; the socket
  // returns to listening, and a connection left waiting triggers it again until the trigger
  // limit fails the socket with trigger-limit-hit.
  test("a service skipped by its condition: the socket listens again; repeated skips hit the trigger limit", async () => {
    manager({
      "t.socket": "[Socket]\nListenStream=%d/t.ctl\nTriggerLimitIntervalSec=2s\nTriggerLimitBurst=5\n",
      "t.service": service("/bin/true", "[Unit]\nRequires=t.socket\nConditionPathExistsGlob=/tmp/nonexistent-bunit"),
    });
    expect(await m.start("t.socket")).toBe("done");
    const fd = listeningFd(`${dir}/t.ctl`);
    connect(`${dir}/t.ctl`);
    f.watcher.fire(fd, C.EPOLLIN);
    await f.settle();
    expect(state("t.service")).toBe("inactive");
    expect(m.unit("t.socket")?.subState()).toBe("listening");
    for (let i = 0; i < 10 && m.unit("t.socket")?.subState() === "listening"; i++) {
      f.watcher.fire(fd, C.EPOLLIN);
      await f.settle();
    }
    expect(m.unit("t.socket")?.activeState()).toBe("failed");
    expect(m.unit("t.socket")?.result).toBe("trigger-limit-hit");
    expect(f.spawner.names()).not.toContain("/bin/true");
  });

  test("stopping a socket leaves its running service alone", async () => {
    manager({
      "e.socket": "[Socket]\nListenStream=%d/e.sock\n",
      "e.service": service("/bin/e"),
    });
    await m.start("e.socket");
    f.watcher.fire(listeningFd(`${dir}/e.sock`), C.EPOLLIN);
    await f.settle();
    expect(await m.stop("e.socket")).toBe("done");
    expect(state("e.socket")).toBe("inactive");
    expect(state("e.service")).toBe("active");
  });
});

describe("dependencies", () => {
  test("Requires= with After= starts the required unit first; Wants= comes along", async () => {
    manager({
      "x.service": service("/bin/x", "[Unit]\nRequires=y.service\nAfter=y.service\nWants=w.service"),
      "y.service": service("/bin/y", "Type=oneshot\nRemainAfterExit=yes"),
      "w.service": service("/bin/w"),
    });
    const p = m.start("x.service");
    await f.settle();
    expect(f.spawner.names()).not.toContain("/bin/x"); // y is a oneshot still running
    f.spawner.last("/bin/y").exit(0);
    expect(await p).toBe("done");
    expect(f.spawner.names().indexOf("/bin/y")).toBeLessThan(f.spawner.names().indexOf("/bin/x"));
    expect(state("w.service")).toBe("active");
  });

  test("a failing required unit fails the start with 'dependency'", async () => {
    manager({
      "x.service": service("/bin/x", "[Unit]\nRequires=y.service\nAfter=y.service"),
      "y.service": service("/bin/y", "Type=oneshot"),
    });
    f.spawner.behaviour.set("/bin/y", { exit: 1 });
    expect(await m.start("x.service")).toBe("dependency");
    expect(state("y.service")).toBe("failed");
    expect(f.spawner.names()).not.toContain("/bin/x");
  });

  test("BindsTo=: the bound unit stops when the unit it is bound to stops", async () => {
    manager({
      "x.service": service("/bin/x", "[Unit]\nBindsTo=y.service\nAfter=y.service"),
      "y.service": service("/bin/y"),
    });
    expect(await m.start("x.service")).toBe("done");
    expect(state("y.service")).toBe("active");
    f.spawner.last("/bin/y").exit(0);
    await f.settle();
    expect(state("y.service")).toBe("inactive");
    expect(f.killer.to(f.spawner.last("/bin/x").pid)).toContain(SIGTERM);
    expect(state("x.service")).toBe("inactive");
  });

  // systemd.unit(5), Requires=: "If one of the other units is explicitly stopped (or
  // restarted), this unit will be stopped (or restarted) too."
  test("Requires=: stopping the required unit stops the unit that requires it", async () => {
    manager({
      "x.service": service("/bin/x", "[Unit]\nRequires=y.service\nAfter=y.service"),
      "y.service": service("/bin/y"),
    });
    await m.start("x.service");
    expect(await m.stop("y.service")).toBe("done");
    await f.settle();
    expect(state("x.service")).toBe("inactive");
  });

  // systemd stops and restarts a unit together with the one it is PartOf=.
  test("PartOf=: stopping the unit stops the units that are part of it", async () => {
    manager({
      "part.service": service("/bin/part", "[Unit]\nPartOf=whole.service"),
      "whole.service": service("/bin/whole"),
    });
    await m.start("whole.service");
    await m.start("part.service");
    await m.stop("whole.service");
    await f.settle();
    expect(state("part.service")).toBe("inactive");
  });

  test("Conflicts=: starting a unit stops the one it conflicts with", async () => {
    manager({
      "p.service": service("/bin/p", "[Unit]\nConflicts=q.service"),
      "q.service": service("/bin/q"),
    });
    await m.start("q.service");
    const pending = m.start("p.service");
    await f.settle();
    expect(f.killer.to(f.spawner.last("/bin/q").pid)).toContain(SIGTERM);
    expect(await pending).toBe("done");
    expect(state("q.service")).toBe("inactive");
    expect(state("p.service")).toBe("active");
  });

  test("PartOf= a service: stopping the service stops the socket; restarting it restarts the socket", async () => {
    manager({
      "w.socket": "[Unit]\nPartOf=w.service\n[Socket]\nListenStream=%d/w.sock\n",
      "w.service": service("/bin/w"),
    });
    expect(await m.start("w.socket")).toBe("done");
    expect(await m.start("w.service")).toBe("done");
    const stopped = m.stop("w.service");
    await f.settle();
    expect(await stopped).toBe("done");
    expect(state("w.socket")).toBe("inactive");
    await m.start("w.socket");
    await m.start("w.service");
    expect(await m.restart("w.service")).toBe("done");
    await f.settle();
    expect([state("w.socket"), state("w.service")]).toEqual(["active", "active"]);
  });

  test("restarting a socket restarts the activating service that Requires= it (TEST-03-JOBS always-activating)", async () => {
    manager({
      "aa.socket": "[Socket]\nListenStream=%d/aa.sock\n",
      "aa.service": service("/bin/aa", "Type=notify\n[Unit]\nRequires=aa.socket\nAfter=aa.socket"),
    });
    void m.start("aa.service");
    await f.settle();
    expect([state("aa.socket"), state("aa.service")]).toEqual(["active", "activating"]);
    const first = f.spawner.last("/bin/aa");
    const r = m.restart("aa.socket");
    await f.settle();
    expect(await r).toBe("done");
    await f.settle();
    expect(first.alive).toBe(false);
    expect(f.spawner.last("/bin/aa")).not.toBe(first);
    expect(state("aa.service")).toBe("activating");
  });

  test("batch(): units started together honour After= between them, in whatever order they were named", async () => {
    manager({ "first.service": service("/bin/first", "Type=oneshot"), "second.service": service("/bin/second", "[Unit]\nAfter=first.service") });
    const both = m.batch(() => [m.start("second.service"), m.start("first.service")]);
    await f.settle();
    expect(f.spawner.names()).toEqual(["/bin/first"]);
    f.spawner.last("/bin/first").exit(0);
    expect(await Promise.all(both)).toEqual(["done", "done"]);
    expect(f.spawner.names()).toEqual(["/bin/first", "/bin/second"]);
  });

  test("Requires= a socket: stopping the socket stops the service", async () => {
    manager({
      "r.socket": "[Socket]\nListenStream=%d/r.sock\n",
      "r.service": service("/bin/r", "[Unit]\nRequires=r.socket\nAfter=r.socket"),
    });
    expect(await m.start("r.service")).toBe("done");
    expect(state("r.socket")).toBe("active");
    expect(await m.stop("r.socket")).toBe("done");
    expect(f.killer.to(f.spawner.last("/bin/r").pid)).toContain(SIGTERM);
    expect(state("r.service")).toBe("inactive");
  });

  test("Conflicts= is two-way: starting the unit named in another's Conflicts= stops that one", async () => {
    manager({
      "p.service": service("/bin/p", "[Unit]\nConflicts=q.service"),
      "q.service": service("/bin/q"),
    });
    await m.start("p.service");
    const pending = m.start("q.service");
    await f.settle();
    expect(await pending).toBe("done");
    expect(f.killer.to(f.spawner.last("/bin/p").pid)).toContain(SIGTERM);
    expect([state("p.service"), state("q.service")]).toEqual(["inactive", "active"]);
  });

  test("Upholds=: the upheld unit starts with the unit and again whenever it is found inactive", async () => {
    manager({
      "x.service": service("/bin/x", "TimeoutStopSec=1\n[Unit]\nUpholds=y.service"),
      "y.service": service("/bin/y"),
    });
    expect(await m.start("x.service")).toBe("done");
    expect(state("y.service")).toBe("active");
    f.spawner.last("/bin/y").exit(1);
    await f.settle();
    expect(f.spawner.names().filter((x) => x === "/bin/y")).toHaveLength(2);
    expect(state("y.service")).toBe("active");
    // While the upholding unit is being stopped (it takes its time), the upheld one stopping is not started again.
    f.spawner.last("/bin/x").ignores.add(SIGTERM);
    const x = m.stop("x.service");
    await f.settle();
    expect(await m.stop("y.service")).toBe("done");
    await f.settle();
    expect(f.spawner.names().filter((x) => x === "/bin/y")).toHaveLength(2);
    await f.advance(SEC);
    expect(await x).toBe("done");
    expect(f.spawner.names().filter((x) => x === "/bin/y")).toHaveLength(2);
    expect([state("x.service"), state("y.service")]).toEqual(["failed", "inactive"]); // x: SIGKILLed after TimeoutStopSec=
  });

  test("StopWhenUnneeded=: a unit stops once no active unit pulls it in; started alone it stops at once", async () => {
    manager({
      "x.service": service("/bin/x", "[Unit]\nWants=y.service"),
      "y.service": service("/bin/y", "[Unit]\nStopWhenUnneeded=yes"),
    });
    expect(await m.start("x.service")).toBe("done");
    expect(state("y.service")).toBe("active");
    await m.stop("x.service");
    await f.settle();
    expect(state("y.service")).toBe("inactive");
    await m.start("y.service");
    await f.settle();
    expect(state("y.service")).toBe("inactive");
    expect(f.messages("y.service")).toContain("Unit not needed anymore. Stopping.");
  });

  test("RefuseManualStart=/RefuseManualStop=: refused by hand, done as a dependency", async () => {
    manager({
      "x.service": service("/bin/x", "[Unit]\nRequires=y.service"),
      "y.service": service("/bin/y", "[Unit]\nRefuseManualStart=yes\nRefuseManualStop=yes"),
    });
    expect(await m.start("y.service")).toBe("failed");
    expect(f.messages("y.service")).toContain("Operation refused, unit may be requested by dependency only (it is configured to refuse manual start).");
    expect(await m.start("x.service")).toBe("done");
    expect(state("y.service")).toBe("active");
    expect(await m.stop("y.service")).toBe("failed");
    expect(state("y.service")).toBe("active");
  });

  test("PropagatesReloadTo= and ReloadPropagatedFrom=: a reload reaches the other active units", async () => {
    manager({
      "a.service": service("/bin/a", "ExecReload=/bin/reload-a\n[Unit]\nPropagatesReloadTo=b.service"),
      "b.service": service("/bin/b", "ExecReload=/bin/reload-b"),
      "c.service": service("/bin/c", "ExecReload=/bin/reload-c\n[Unit]\nReloadPropagatedFrom=a.service"),
    });
    for (const u of ["a", "b", "c"]) await m.start(`${u}.service`);
    const r = m.reloadUnit("a.service");
    expect(f.spawner.names()).toEqual(expect.arrayContaining(["/bin/reload-a", "/bin/reload-b", "/bin/reload-c"]));
    for (const x of ["/bin/reload-a", "/bin/reload-b", "/bin/reload-c"]) f.spawner.last(x).exit(0);
    expect(await r).toBe("done");
  });

  test("OnFailure=: a unit entering failed starts its handlers", async () => {
    manager({
      "f.service": service("/bin/f", "[Unit]\nOnFailure=handler.service"),
      "handler.service": service("/bin/handler", "Type=oneshot"),
    });
    await m.start("f.service");
    f.spawner.last("/bin/f").exit(3);
    await f.settle();
    expect(state("f.service")).toBe("failed");
    expect(f.spawner.names()).toContain("/bin/handler");
    f.spawner.last("/bin/handler").exit(0);
    await f.settle();
    expect(state("handler.service")).toBe("inactive");
  });

  test("OnFailure= is not run for a clean stop", async () => {
    manager({
      "f.service": service("/bin/f", "[Unit]\nOnFailure=handler.service"),
      "handler.service": service("/bin/handler"),
    });
    await m.start("f.service");
    f.spawner.last("/bin/f").exit(0);
    await f.settle();
    expect(f.spawner.names()).not.toContain("/bin/handler");
  });
});

describe("daemon-reload", () => {
  test("an active unit whose file is gone keeps running (not stopped) until it stops, then it is forgotten", async () => {
    manager({ "g.service": service("/bin/g"), "h.service": service("/bin/h") });
    expect(await m.start("g.service")).toBe("done");
    m.unit("h.service");
    rmSync(join(units, "g.service"));
    rmSync(join(units, "h.service"));
    const report = m.reloadUnits();
    expect(report.removed.sort()).toEqual(["g.service", "h.service"]);
    await f.settle();
    expect(f.killer.to(f.spawner.last("/bin/g").pid)).toEqual([]);
    expect(state("g.service")).toBe("active");
    expect(m.unitFileGone("g.service")).toBe(true);
    expect(m.loadedUnits().map((u) => u.name)).not.toContain("h.service");
    f.spawner.last("/bin/g").exit(0);
    await f.settle();
    expect(m.loadedUnits().map((u) => u.name)).not.toContain("g.service");
    expect(m.unitFileGone("g.service")).toBe(false);
  });
  // systemd's TEST-07-PID1.issue-3171: the socket stays active (its node and group too) but
  // closes its fds: connections are refused until a restart, also after the file came back.
  test("a listening socket whose file is gone stays active with its node, refusing connections until restarted", async () => {
    manager({ "k.socket": "[Socket]\nListenStream=%d/k.sock\n", "k.service": service("/bin/k") });
    await m.start("k.socket");
    connect(`${dir}/k.sock`);
    const file = join(units, "k.socket");
    const text = readFileSync(file, "utf8");
    rmSync(file);
    m.reloadUnits();
    expect(state("k.socket")).toBe("active");
    expect(existsSync(`${dir}/k.sock`)).toBe(true);
    expect(() => connect(`${dir}/k.sock`)).toThrow(/ECONNREFUSED/);
    writeFileSync(file, text);
    m.reloadUnits();
    expect(m.unitFileGone("k.socket")).toBe(false);
    expect(() => connect(`${dir}/k.sock`)).toThrow(/ECONNREFUSED/);
    expect(await m.restart("k.socket")).toBe("done");
    expect(() => connect(`${dir}/k.sock`)).not.toThrow();
  });
});

describe("control", () => {
  test("start and stop of a service: SIGTERM, then inactive; restart runs it again", async () => {
    manager({ "a.service": service("/bin/a") });
    expect(await m.start("a.service")).toBe("done");
    const first = f.spawner.last("/bin/a");
    expect(await m.restart("a.service")).toBe("done");
    expect(f.killer.to(first.pid)).toEqual([SIGTERM]);
    expect(f.spawner.names()).toEqual(["/bin/a", "/bin/a"]);
    expect(state("a.service")).toBe("active");
    expect(await m.stop("a.service")).toBe("done");
    expect(state("a.service")).toBe("inactive");
  });

  test("TimeoutStopSec= on the fake clock: a process ignoring SIGTERM is killed", async () => {
    manager({ "a.service": service("/bin/a", "TimeoutStopSec=5") });
    await m.start("a.service");
    const p = f.spawner.last("/bin/a");
    p.ignores.add(SIGTERM);
    const stopped = m.stop("a.service");
    await f.advance(5 * SEC);
    expect(await stopped).toBe("done");
    expect(f.killer.to(p.pid)).toEqual([SIGTERM, 9]);
  });

  test("a unit that does not exist or has errors is not started", async () => {
    manager({ "bad.service": "[Service]\nType=simple\n" }); // no ExecStart=
    expect(await m.start("nope.service")).toBe("failed");
    expect(await m.start("bad.service")).toBe("failed");
    expect(f.spawner.spawned).toEqual([]);
  });

  test("shutdown stops every unit", async () => {
    manager({
      "a.service": service("/bin/a", "[Install]\nWantedBy=multi-user.target"),
      "e.socket": "[Socket]\nListenStream=%d/e.sock\n[Install]\nWantedBy=sockets.target\n",
      "e.service": service("/bin/e"),
    });
    await m.boot();
    await m.shutdown(5 * SEC);
    expect(f.spawner.last("/bin/a").alive).toBe(false);
    expect(f.watcher.handlers.size).toBe(0);
    expect(m.loadedUnits()).toEqual([]);
  });
});
