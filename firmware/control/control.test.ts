import { describe, expect, test } from "bun:test";
import { LogRing } from "../core/log-ring.ts";
import { mayMutate, mayRead, parseStatusGroups } from "./auth.ts";
import { formatAge, formatLogLines, formatUnitRows, formatUnitStatus, table } from "./format.ts";
import { controlHandler, type ControlledSystem, type DependencyNode, type JobRow } from "./handlers.ts";
import { parseRequest } from "./protocol.ts";
import type { UnitInfo } from "./unit-info.ts";
import { checkUnits, parseControlArgs } from "../commands/control.ts";
import { formatDependencyTree, formatJobRows, formatSocketRows, selectSocketRows } from "./format.ts";
import { configChange } from "../daemon/config-change.ts";
import type { LoadedUnit } from "../unit/unit-file.ts";

const info = (unit: string, active = "active"): UnitInfo => ({
  unit,
  description: unit,
  loadState: "loaded",
  activeState: active,
  subState: active === "active" ? "running" : "dead",
  result: "success",
  sinceMs: 0,
  fragmentPath: `/etc/bunit/${unit}`,
  dropinPaths: [],
  triggers: [],
  triggeredBy: [],
});

const KNOWN = ["a.service", "ab.service", "b.socket", "web@1.service", "web@.service"];

function fakeSystem(jobs: string[], ring = new LogRing(10)): ControlledSystem {
  return {
    summary: () => ({ pid: 1, version: "t", startedMs: 0, state: "running", units: 1, failed: [], jobs: 0, controlPath: "/x", cgroup: null }),
    info: (n) => (KNOWN.includes(n) ? info(n) : null),
    properties: (n, reader) =>
      KNOWN.includes(n) ? [["Id", n], ["LoadState", "loaded"], ...(reader ? [["Environment", "SECRET=1"] as [string, string]] : [])] : null,
    names: () => KNOWN.filter((k) => !k.includes("@.")),
    units: () => [],
    sockets: () => [],
    job: async (n, t) => (jobs.push(`${t} ${n}`), "done"),
    jobs: async (names, t) => names.map((n) => (jobs.push(`${t} ${n}`), "done" as const)),
    dependencies: (n) => (n === "a.target" ? ["b.socket", "c.service", "a.target"] : n === "b.socket" ? ["d.socket"] : []),
    jobList: () => [{ id: 7, unit: "a.service", type: "start", state: "running" }],
    clean: (n, what) => (jobs.push(`clean ${n} ${what.join(",")}`), n === "b.socket" ? "Unit b.socket is active" : null),
    storedFds: (n) =>
      n === "a.service"
        ? [{ name: "db", mode: 0o140777, dev: "8", inode: "4242", rdev: "0", path: "socket:[4242]", flags: 2 }]
        : `Unit ${n} has no file descriptor store: only services keep one.`,
    reloadUnits: async () => ({ added: [], changed: [], removed: [], rejected: [], reopened: [] }),
    catUnit: (n) => `# /etc/bunit/${n}\n[Service]\nEnvironment=SECRET=1\n`,
    ring,
    reexec: async () => null,
    controlGid: 1000,
    logGid: 4,
  };
}

const caller = (uid: number, gid: number, groups: number[] = []) => ({ cred: { pid: 5, uid, gid }, groups });
const root = caller(0, 0);

describe("control authorization", () => {
  test("root and members of the control group may change units; others may only look", async () => {
    expect(mayMutate(caller(0, 0), null)).toBe(true);
    expect(mayMutate(caller(1001, 1000), 1000)).toBe(true);
    expect(mayMutate(caller(1001, 1001, [27, 1000]), 1000)).toBe(true);
    expect(mayMutate(caller(1001, 1001, [27]), 1000)).toBe(false);
    expect(mayMutate(caller(1001, 1000), null)).toBe(false);
    expect(parseStatusGroups("Name:\tx\nGroups:\t4 24 27 \nNSpid:\t1\n")).toEqual([4, 24, 27]);
    const jobs: string[] = [];
    const h = controlHandler(fakeSystem(jobs));
    const denied = await h({ command: "stop", units: ["a.service"] }, caller(1001, 1001));
    expect(denied).toEqual({ ok: false, error: expect.stringContaining("Access denied") });
    expect(jobs).toEqual([]);
    expect(await h({ command: "status", units: ["a.service"] }, caller(1001, 1001))).toMatchObject({ ok: true });
    expect(await h({ command: "stop", units: ["a.service"] }, caller(1001, 1000))).toMatchObject({ ok: true });
    expect(jobs).toEqual(["stop a.service"]);
    expect(await h({ command: "start", units: ["nope.service"] }, root)).toEqual({
      ok: false,
      error: "Failed to start nope.service: Unit nope.service not found.",
      code: 5,
    });
    expect(await h({ command: "start", units: [] }, root)).toMatchObject({ ok: false });
  });

  test("read model: state for everyone; logs, unit files and Environment= for root and the log-reader group", async () => {
    expect(mayRead(caller(0, 0), null)).toBe(true);
    expect(mayRead(caller(1001, 1001), null)).toBe(false);
    expect(mayRead(caller(1001, 4), 4)).toBe(true);
    expect(mayRead(caller(1001, 1001, [4]), 4)).toBe(true);
    expect(mayRead(caller(1001, 1001, [1000]), 4)).toBe(false); // the control group alone does not read
    const ring = new LogRing(10);
    ring.push({ timeMs: 1, level: "info", source: "stdout", unit: "a.service", message: "password=hunter2" });
    const h = controlHandler(fakeSystem([], ring));
    const user = caller(1001, 1001);
    const reader = caller(1001, 1001, [4]);
    expect(await h({ command: "logs", units: [] }, user)).toMatchObject({ ok: false, error: expect.stringContaining("log-reader group") });
    expect(await h({ command: "cat", units: ["a.service"] }, user)).toMatchObject({ ok: false, error: expect.stringContaining("Access denied") });
    const st = (await h({ command: "status", units: ["a.service"] }, user)) as { ok: true; data: { logs: object; logsHidden?: boolean } };
    expect(st.data.logs).toEqual({});
    expect(st.data.logsHidden).toBe(true);
    expect(JSON.stringify(await h({ command: "show", units: ["a.service"] }, user))).not.toContain("SECRET");
    expect(JSON.stringify(await h({ command: "show", units: ["a.service"] }, reader))).toContain("SECRET=1");
    expect(JSON.stringify(await h({ command: "logs", units: ["a.service"] }, reader))).toContain("hunter2");
    expect(JSON.stringify(await h({ command: "status", units: ["a.service"] }, reader))).toContain("hunter2");
    expect(await h({ command: "cat", units: ["a"] }, reader)).toMatchObject({ ok: true });
  });
});

describe("unit names on requests", () => {
  test("show of an unknown unit answers LoadState=not-found; status says it cannot be found (4)", async () => {
    const h = controlHandler(fakeSystem([]));
    const r = (await h({ command: "show", units: ["nope.service"] }, root)) as { ok: true; data: { properties: [string, string][][] } };
    expect(r.data.properties[0]).toContainEqual(["LoadState", "not-found"]);
    expect(r.data.properties[0]).toContainEqual(["Id", "nope.service"]);
    expect(await h({ command: "status", units: ["nope.service"] }, root)).toEqual({ ok: false, error: "Unit nope.service could not be found.", code: 4 });
  });
  test("invalid names, templates without instance, names without a type", async () => {
    const jobs: string[] = [];
    const h = controlHandler(fakeSystem(jobs));
    expect(await h({ command: "show", units: ["../etc"] }, root)).toEqual({ ok: false, error: 'Invalid unit name "../etc".' });
    expect(await h({ command: "status", units: ["a b"] }, root)).toEqual({ ok: false, error: 'Invalid unit name "a b".' });
    expect(await h({ command: "start", units: ["web@.service"] }, root)).toEqual({
      ok: false,
      error: "Failed to start web@.service: Unit name web@.service is missing the instance name.",
      code: 5,
    });
    expect(await h({ command: "start", units: ["a"] }, root)).toMatchObject({ ok: true });
    expect(jobs).toEqual(["start a.service"]);
  });
  test("the units of one command go to the system together (one transaction); reload-or-* verbs need the control group", async () => {
    const calls: string[] = [];
    const sys: ControlledSystem = { ...fakeSystem([]), jobs: async (names, t) => (calls.push(`${t} ${names.join(" ")}`), names.map(() => "done" as const)) };
    const h = controlHandler(sys);
    expect(await h({ command: "start", units: ["a", "b.socket"] }, root)).toMatchObject({ ok: true });
    expect(await h({ command: "reload-or-restart", units: ["a", "b.socket"] }, root)).toMatchObject({ ok: true });
    expect(await h({ command: "reload-or-try-restart", units: ["b.socket"] }, root)).toMatchObject({ ok: true });
    expect(calls).toEqual(["start a.service b.socket", "reload-or-restart a.service b.socket", "reload-or-try-restart b.socket"]);
    expect(await h({ command: "reload-or-restart", units: ["b.socket"] }, caller(1001, 1001))).toMatchObject({ ok: false });
    expect(calls.length).toBe(3);
  });
  test("list-dependencies: a tree of what the unit pulls in, cycles cut, --type filtering", async () => {
    const h = controlHandler(fakeSystem([]));
    const r = (await h({ command: "list-dependencies", units: ["a.target"] }, root)) as { ok: true; data: { tree: DependencyNode } };
    expect(formatDependencyTree(r.data.tree)).toBe("a.target\n├─b.socket\n│ └─d.socket\n└─c.service\n");
    const t = (await h({ command: "list-dependencies", units: ["a.target"], types: ["service", "mount"] }, root)) as {
      ok: true;
      data: { tree: DependencyNode };
    };
    expect(formatDependencyTree(t.data.tree)).toBe("a.target\n└─c.service\n");
    expect(parseControlArgs("list-dependencies", ["sysinit.target", "--type=socket,mount"], {}).request).toMatchObject({
      command: "list-dependencies",
      types: ["socket", "mount"],
    });
  });
  test("list-jobs: the queued jobs, as systemctl prints them", async () => {
    const h = controlHandler(fakeSystem([]));
    const r = (await h({ command: "list-jobs", units: [] }, caller(1001, 1001))) as { ok: true; data: { jobs: JobRow[] } };
    expect(formatJobRows(r.data.jobs)).toBe("JOB  UNIT       TYPE   STATE\n7    a.service  start  running\n\n1 jobs listed.\n");
    expect(formatJobRows([])).toBe("No jobs running.\n");
  });
  test("fdstore: a service's stored fds for anyone (systemd's method is unprivileged); a unit without a store fails", async () => {
    const h = controlHandler(fakeSystem([]));
    const row = { name: "db", mode: 0o140777, dev: "8", inode: "4242", rdev: "0", path: "socket:[4242]", flags: 2 };
    expect(await h({ command: "fdstore", units: ["a"] }, caller(1001, 1001))).toEqual({ ok: true, data: { stores: [{ unit: "a.service", fds: [row] }] } });
    expect(await h({ command: "fdstore", units: ["b.socket"] }, root)).toEqual({
      ok: false,
      error: "Unit b.socket has no file descriptor store: only services keep one.",
      code: 1,
    });
    expect(await h({ command: "fdstore", units: [] }, root)).toMatchObject({ ok: false, error: "fdstore needs at least one unit name" });
  });

  test("clean: --what= checked, default runtime and cache, refusals reported, control group only", async () => {
    const jobs: string[] = [];
    const h = controlHandler(fakeSystem(jobs));
    expect(await h({ command: "clean", units: ["a"] }, root)).toEqual({ ok: true, data: {} });
    expect(await h({ command: "clean", units: ["a"], what: ["configuration", "logs"] }, root)).toEqual({ ok: true, data: {} });
    expect(await h({ command: "clean", units: ["a"], what: ["bogus"] }, root)).toMatchObject({ ok: false, code: 1 });
    expect(await h({ command: "clean", units: ["b.socket"] }, root)).toMatchObject({
      ok: false,
      error: "Failed to clean b.socket: Unit b.socket is active",
      code: 1,
    });
    expect(await h({ command: "clean", units: ["a"] }, caller(1001, 1001))).toMatchObject({ ok: false });
    expect(jobs).toEqual(["clean a.service runtime,cache", "clean a.service configuration,logs", "clean b.socket runtime,cache"]);
    expect(parseControlArgs("clean", ["x.socket", "--what=configuration", "--what", "logs"], {}).request).toMatchObject({
      command: "clean",
      what: ["configuration", "logs"],
    });
  });
  test("globs match the known units", async () => {
    const jobs: string[] = [];
    const h = controlHandler(fakeSystem(jobs));
    const r = (await h({ command: "status", units: ["a*"] }, root)) as { ok: true; data: { units: UnitInfo[] } };
    expect(r.data.units.map((u) => u.unit)).toEqual(["a.service", "ab.service"]);
    await h({ command: "restart", units: ["web@?.service", "*.socket"] }, root);
    expect(jobs.sort()).toEqual(["restart b.socket", "restart web@1.service"]);
    expect(await h({ command: "stop", units: ["zz*"] }, root)).toMatchObject({ ok: false, code: 4 });
  });
  test("--no-block answers before the jobs end", async () => {
    let finish: (v: "done") => void = () => {};
    const sys = { ...fakeSystem([]), jobs: () => new Promise<"done"[]>((r) => (finish = (v) => r([v]))) };
    const h = controlHandler(sys);
    expect(await h({ command: "start", units: ["a.service"], noBlock: true }, root)).toEqual({
      ok: true,
      data: { jobs: [{ unit: "a.service", result: "queued" }] },
    });
    finish("done");
  });
});

describe("control protocol and CLI arguments", () => {
  test("requests are validated", () => {
    expect(parseRequest('{"command":"status","units":["a.service"]}')).toEqual({ command: "status", units: ["a.service"] });
    expect(parseRequest('{"command":"start","units":["a.service"],"noBlock":true}')).toEqual({ command: "start", units: ["a.service"], noBlock: true });
    expect(() => parseRequest("nope")).toThrow("not JSON");
    expect(() => parseRequest('{"command":"rm -rf"}')).toThrow("unknown command");
    expect(() => parseRequest('{"command":"logs","lines":-1}')).toThrow("lines");
    expect(() => parseRequest('{"command":"stop","units":[1]}')).toThrow("units");
    expect(() => parseRequest("null")).toThrow("not an object");
  });
  test("CLI options", () => {
    const a = parseControlArgs("logs", ["web.service", "-n", "20", "-f", "--json", "--socket", "/tmp/c"], {});
    expect(a).toMatchObject({ request: { command: "logs", units: ["web.service"], lines: 20, follow: true }, json: true, socket: "/tmp/c" });
    expect(parseControlArgs("reload", ["web.service"], {}).request.command).toBe("reload-unit");
    const ls = parseControlArgs("list-sockets", ["--legend=no", "-a", "*journal*", "--show-types", "--state=listening,running"], {});
    expect(ls).toMatchObject({ legend: false, states: ["listening", "running"], request: { command: "list-sockets", units: ["*journal*"], all: true } });
    const row = (unit: string, state: string) => ({
      listen: `/run/${unit}`,
      type: "Stream",
      unit,
      state,
      activates: unit.replace(".socket", ".service"),
      accepted: 0,
      connections: 0,
    });
    const rows = [row("a-journal.socket", "listening"), row("b.socket", "listening"), row("c-journal.socket", "stopped")];
    expect(selectSocketRows(rows, ["*journal*"], ["listening"]).map((r) => r.unit)).toEqual(["a-journal.socket"]);
    expect(selectSocketRows(rows, [], []).length).toBe(3);
    expect(formatSocketRows(rows.slice(0, 1), false)).toBe("/run/a-journal.socket  Stream  a-journal.socket  listening  0  a-journal.service\n");
    expect(formatSocketRows([], false)).toBe("");
    expect(parseControlArgs("reload", [], { BUNIT_CONTROL: "/x" })).toMatchObject({ request: { command: "reload" }, socket: "/x" });
    expect(() => parseControlArgs("logs", ["-n", "x"], {})).toThrow("number");
    expect(() => parseControlArgs("status", ["--bogus"], {})).toThrow("unknown option");
    expect(() => parseControlArgs("status", ["--no-block"], {})).toThrow("unknown option");
    expect(parseControlArgs("start", ["a", "--no-block"], {}).request).toEqual({ command: "start", units: ["a"], noBlock: true });
    const s = parseControlArgs("show", ["a", "-p", "Id,LoadState", "--property=MainPID", "--all"], {});
    expect(s.show).toEqual({ properties: ["Id", "LoadState", "MainPID"], all: true, value: false });
    expect(parseControlArgs("show", ["a", "-P", "ActiveState"], {}).show).toEqual({ properties: ["ActiveState"], all: false, value: true });
    expect(parseControlArgs("is-active", ["a", "-q"], {})).toMatchObject({ quiet: true, request: { command: "show" } });
    expect(parseControlArgs("is-failed", [], {}).request.command).toBe("status");
    expect(parseControlArgs("show", ["--help"], {}).help).toBe(true);
    expect(() => parseControlArgs("show", [], {})).toThrow("at least one unit");
  });
  test("is-active, is-failed, is-enabled exit statuses as systemctl's", () => {
    const u = (active: string, load = "loaded", file = "enabled"): [string, string][] => [
      ["LoadState", load],
      ["ActiveState", active],
      ["UnitFileState", file],
    ];
    expect(checkUnits("is-active", [u("active")])).toEqual({ lines: ["active"], code: 0 });
    expect(checkUnits("is-active", [u("inactive"), u("reloading")]).code).toBe(0);
    expect(checkUnits("is-active", [u("failed")])).toEqual({ lines: ["failed"], code: 3 });
    expect(checkUnits("is-active", [u("inactive", "not-found", "")])).toEqual({ lines: ["inactive"], code: 4 });
    expect(checkUnits("is-active", []).code).toBe(4);
    expect(checkUnits("is-failed", [u("failed")]).code).toBe(0);
    expect(checkUnits("is-failed", [u("active")]).code).toBe(1);
    expect(checkUnits("is-failed", [u("inactive", "not-found", "")]).code).toBe(4);
    expect(checkUnits("is-enabled", [u("inactive", "loaded", "static")])).toEqual({ lines: ["static"], code: 0 });
    expect(checkUnits("is-enabled", [u("inactive", "loaded", "disabled")])).toEqual({ lines: ["disabled"], code: 1 });
    expect(checkUnits("is-enabled", [u("inactive", "not-found", "")])).toEqual({ lines: ["not-found"], code: 4 });
  });
});

describe("human output", () => {
  test("tables, ages and status blocks", () => {
    expect(table(["A", "BB"], [["xxx", "y"]])).toBe("A    BB\nxxx  y\n");
    expect(formatAge(0, 59_000)).toBe("59s ago");
    expect(formatAge(0, 3_723_000)).toBe("1h 2min 3s ago");
    expect(formatUnitRows([{ unit: "a.service", load: "loaded", active: "active", sub: "running", description: "A" }])).toContain("1 units listed.");
    const st = formatUnitStatus(
      {
        ...info("a.service"),
        service: {
          type: "notify",
          mainPid: 9,
          controlPid: null,
          nRestarts: 2,
          statusText: "ok\x1b[2J",
          execMain: null,
          restart: "always",
          cgroup: null,
          tasks: [9],
          fdStore: [],
        },
      },
      1000,
    );
    expect(st).toContain("● a.service - a.service");
    expect(st).toContain('Status: "ok\\x1b[2J"');
    expect(st).toContain("Main PID: 9");
    expect(st).toContain("Restarts: 2");
  });
  test("service output reaches the terminal with its control characters escaped", () => {
    const text = formatLogLines([{ timeMs: 0, level: "info", source: "stdout", unit: "a.service", pid: 3, message: "ok\r\x1b[31mFAKE\x7f\x9b" }]);
    expect(text).toBe("1970-01-01T00:00:00.000Z a.service[3]: ok\\x0d\\x1b[31mFAKE\\x7f\\x9b\n");
    // biome-ignore lint/suspicious/noControlCharactersInRegex: no control character may reach the terminal
    expect(text.slice(0, -1)).not.toMatch(/[\x00-\x1f\x7f]/);
  });
});

describe("daemon-reload change detection", () => {
  const unit = (listen: string, max = 64, line = 3): LoadedUnit =>
    ({
      name: "a.socket",
      socket: { listen: [{ kind: "stream", text: listen, file: "/u/a.socket", line }], maxConnections: max, backlog: 128 },
    }) as unknown as LoadedUnit;
  test("only moved lines: none; limits: settings; ports: ports", () => {
    expect(configChange(unit("80"), unit("80", 64, 9))).toBe("none");
    expect(configChange(unit("80"), unit("80", 10))).toBe("settings");
    expect(configChange(unit("80"), unit("81"))).toBe("ports");
  });
});
