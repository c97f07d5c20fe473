import { afterEach, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Logger, type LogRecord } from "../core/log.ts";
import type { Manager } from "./manager.ts";
import { Reexec, type ReexecDeps } from "./reexec.ts";
import type { ReexecState } from "./reexec-state.ts";
import { takeState, writeState } from "./reexec-state.ts";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), "bunit-reexec-"));
  dirs.push(d);
  return d;
}

/** A manager with no units and no jobs, that records holdActivation. */
function fakeManager(holds: boolean[], busy: () => boolean = () => false): Manager {
  return {
    jobs: {
      get size() {
        return busy() ? 1 : 0;
      },
    },
    loadedUnits: () => [],
    holdActivation: (on: boolean) => holds.push(on),
  } as unknown as Manager;
}

function deps(over: Partial<ReexecDeps> & { holds: boolean[]; records: LogRecord[] }): ReexecDeps {
  const logger = new Logger("debug");
  logger.addSink((r) => over.records.push(r));
  return {
    manager: fakeManager(over.holds),
    logger,
    stateDir: join(tmp(), "reexec"),
    stopping: () => false,
    extra: () => ({ startedMs: 1, control: null, notify: null, logs: [], gadget: false }),
    releaseEndpoints: () => {},
    restoreEndpoints: () => {},
    beforeExec: () => {},
    answerDelayMs: 0,
    ...over,
  };
}

const tick = () => new Promise((r) => setTimeout(r, 5));

describe("daemon-reexec orchestration", () => {
  test("a state file that cannot be written is reported to the client, and activation resumes", async () => {
    const holds: boolean[] = [],
      records: LogRecord[] = [];
    const base = tmp();
    // A planted symlink where the private state directory should be.
    symlinkSync("/tmp", join(base, "reexec"));
    let execs = 0;
    const r = new Reexec(deps({ holds, records, stateDir: join(base, "reexec"), exec: () => (execs++, "x") }));
    const answer = await r.request();
    expect(answer).toContain("cannot write the daemon-reexec state");
    expect(holds).toEqual([true, false]);
    await tick();
    expect(execs).toBe(0);
    // The next request is not refused as "already under way".
    expect(await r.request()).toContain("cannot write");
  });

  test("a directory open to others is refused", async () => {
    const holds: boolean[] = [],
      records: LogRecord[] = [];
    const dir = join(tmp(), "reexec");
    mkdirSync(dir, { mode: 0o700 });
    chmodSync(dir, 0o777);
    const r = new Reexec(deps({ holds, records, stateDir: dir }));
    expect(await r.request()).toContain("mode 0700");
    expect(holds).toEqual([true, false]);
  });

  test("ok, then exec with the written state; a failed execve restores the endpoints and removes the file", async () => {
    const holds: boolean[] = [],
      records: LogRecord[] = [];
    const seen: { state: ReexecState; path: string }[] = [];
    let released = 0,
      restored = 0;
    const d = deps({
      holds,
      records,
      exec: (state, path) => {
        seen.push({ state, path });
        expect(existsSync(path)).toBe(true);
        return "execve /bun: ENOENT";
      },
      releaseEndpoints: () => void released++,
      restoreEndpoints: () => void restored++,
    });
    const r = new Reexec(d);
    expect(await r.request()).toBeNull();
    for (let i = 0; i < 50 && seen.length === 0; i++) await tick();
    expect(seen.length).toBe(1);
    expect(seen[0]!.state.version).toBe(3);
    expect([released, restored]).toEqual([1, 1]);
    expect(holds).toEqual([true, false]);
    expect(readdirSync(d.stateDir)).toEqual([]);
    expect(records.some((x) => x.message.includes("daemon-reexec failed: execve /bun: ENOENT"))).toBe(true);
  });

  test("a second request while one is under way is refused; none while stopping", async () => {
    const holds: boolean[] = [],
      records: LogRecord[] = [];
    let busy = true;
    let now = 0;
    const d = deps({
      holds,
      records,
      now: () => now,
      sleep: async () => {
        now += 10;
        await tick();
      },
    });
    d.manager = fakeManager(holds, () => busy);
    const r = new Reexec(d);
    const first = r.request();
    expect(await r.request()).toBe("a daemon-reexec is already under way");
    now = 31_000;
    expect(await first).toContain("jobs are running");
    busy = false;
    const stopping = new Reexec({ ...d, stopping: () => true });
    expect(await stopping.request()).toBe("the daemon is stopping");
  });
});

describe("the state file", () => {
  test("is private, and refused when it is not", () => {
    const dir = join(tmp(), "reexec");
    const state: ReexecState = { version: 3, startedMs: 5, control: null, notify: null, units: [], logs: [], gadget: false };
    const path = writeState(state, dir);
    expect(takeState({ BUNIT_REEXEC_STATE: path })).toEqual(state);
    expect(existsSync(path)).toBe(false);
    const open = writeState(state, dir);
    chmodSync(open, 0o644);
    expect(() => takeState({ BUNIT_REEXEC_STATE: open })).toThrow("not a private file");
    const link = join(dir, "link.json");
    symlinkSync(writeState(state, dir), link);
    expect(() => takeState({ BUNIT_REEXEC_STATE: link })).toThrow();
  });
});
