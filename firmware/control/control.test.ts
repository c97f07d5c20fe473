import { describe, expect, test } from "bun:test";
import { LogRing } from "../core/log-ring.ts";
import { mayMutate, parseStatusGroups } from "./auth.ts";
import { formatAge, formatUnitRows, formatUnitStatus, table } from "./format.ts";
import { controlHandler, type ControlledSystem } from "./handlers.ts";
import { parseRequest } from "./protocol.ts";
import type { UnitInfo } from "./unit-info.ts";
import { parseControlArgs } from "../commands/control.ts";
import { configChange } from "../daemon/config-change.ts";
import type { LoadedUnit } from "../unit/unit-file.ts";

const info = (unit: string, active = "active"): UnitInfo => ({
  unit, description: unit, loadState: "loaded", activeState: active, subState: active === "active" ? "running" : "dead", result: "success",
  sinceMs: 0, fragmentPath: `/etc/bunit/${unit}`, dropinPaths: [], triggers: [], triggeredBy: [],
});

function fakeSystem(jobs: string[]): ControlledSystem {
  return {
    summary: () => ({ pid: 1, version: "t", startedMs: 0, state: "running", units: 1, failed: [], jobs: 0, controlPath: "/x", cgroup: null }),
    info: (n) => (n === "a.service" ? info(n) : null),
    units: () => [],
    sockets: () => [],
    job: async (n, t) => (jobs.push(`${t} ${n}`), "done"),
    reloadUnits: async () => ({ added: [], changed: [], removed: [], rejected: [], reopened: [] }),
    catUnit: () => null,
    ring: new LogRing(10),
    reexec: async () => null,
    controlGid: 1000,
  };
}

describe("control authorization", () => {
  const caller = (uid: number, gid: number, groups: number[] = []) => ({ cred: { pid: 5, uid, gid }, groups });
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
    expect(await h({ command: "start", units: ["nope.service"] }, caller(0, 0))).toEqual({ ok: false, error: "Unit nope.service could not be found." });
    expect(await h({ command: "start", units: [] }, caller(0, 0))).toMatchObject({ ok: false });
  });
});

describe("control protocol and CLI arguments", () => {
  test("requests are validated", () => {
    expect(parseRequest('{"command":"status","units":["a.service"]}')).toEqual({ command: "status", units: ["a.service"] });
    expect(() => parseRequest("nope")).toThrow("not JSON");
    expect(() => parseRequest('{"command":"rm -rf"}')).toThrow("unknown command");
    expect(() => parseRequest('{"command":"logs","lines":-1}')).toThrow("lines");
    expect(() => parseRequest('{"command":"stop","units":[1]}')).toThrow("units");
  });
  test("CLI options", () => {
    const a = parseControlArgs("logs", ["web.service", "-n", "20", "-f", "--json", "--socket", "/tmp/c"], {});
    expect(a).toEqual({ request: { command: "logs", units: ["web.service"], lines: 20, follow: true }, json: true, socket: "/tmp/c" });
    expect(parseControlArgs("reload", ["web.service"], {}).request.command).toBe("reload-unit");
    expect(parseControlArgs("reload", [], { BUNIT_CONTROL: "/x" })).toMatchObject({ request: { command: "reload" }, socket: "/x" });
    expect(() => parseControlArgs("logs", ["-n", "x"], {})).toThrow("number");
    expect(() => parseControlArgs("status", ["--bogus"], {})).toThrow("unknown option");
  });
});

describe("human output", () => {
  test("tables, ages and status blocks", () => {
    expect(table(["A", "BB"], [["xxx", "y"]])).toBe("A    BB\nxxx  y\n");
    expect(formatAge(0, 59_000)).toBe("59s ago");
    expect(formatAge(0, 3_723_000)).toBe("1h 2min 3s ago");
    expect(formatUnitRows([{ unit: "a.service", load: "loaded", active: "active", sub: "running", description: "A" }])).toContain("1 units listed.");
    const st = formatUnitStatus({ ...info("a.service"), service: { type: "notify", mainPid: 9, controlPid: null, nRestarts: 2, statusText: "ok", execMain: null, restart: "always", cgroup: null, tasks: [9], fdStore: [] } }, 1000);
    expect(st).toContain("● a.service - a.service");
    expect(st).toContain('Status: "ok"');
    expect(st).toContain("Main PID: 9");
    expect(st).toContain("Restarts: 2");
  });
});

describe("daemon-reload change detection", () => {
  const unit = (listen: string, max = 64, line = 3): LoadedUnit => ({
    name: "a.socket", socket: { listen: [{ kind: "stream", text: listen, file: "/u/a.socket", line }], maxConnections: max, backlog: 128 },
  }) as unknown as LoadedUnit;
  test("only moved lines: none; limits: settings; ports: ports", () => {
    expect(configChange(unit("80"), unit("80", 64, 9))).toBe("none");
    expect(configChange(unit("80"), unit("80", 10))).toBe("settings");
    expect(configChange(unit("80"), unit("81"))).toBe("ports");
  });
});
