import { describe, expect, test } from "bun:test";
import { cleanStaleCgroups, daemonPidOf, isStale, startMsFromStat, type StaleIo } from "./stale-cleanup.ts";

function fakeIo(procs: Record<number, number | null>, dirs: Record<string, { changed: number; populatedFor: number }>) {
  const killed: string[] = [];
  const removed: string[] = [];
  let now = 0;
  const io: StaleIo = {
    parent: () => "/cg",
    list: () => Object.keys(dirs),
    processStartMs: (pid) => procs[pid] ?? null,
    changedMs: (dir) => dirs[dir.slice(4)]?.changed ?? null,
    kill: (dir) => (killed.push(dir), 3),
    populated: (dir) => now < (dirs[dir.slice(4)]?.populatedFor ?? 0),
    remove: (dir) => (removed.push(dir), []),
    pause: (ms) => void (now += ms),
    nowMs: () => now,
  };
  return { io, killed, removed };
}

describe("stale bunit-PID cgroups", () => {
  test("names: only bunit-<pid>", () => {
    expect(daemonPidOf("bunit-123")).toBe(123);
    for (const n of ["bunit-probe-1", "bunit-0", "bunit-", "xbunit-1", "bunit-1x", "cgroup.procs"]) expect(daemonPidOf(n)).toBeNull();
  });

  test("stale: the pid is gone, or started after the directory last changed; never our own", () => {
    expect(isStale(5, 5, null, 0)).toBe(false);
    expect(isStale(7, 5, null, 1000)).toBe(true);
    expect(isStale(7, 5, 500, 1000)).toBe(false); // the live daemon that made it
    expect(isStale(7, 5, 1000 + 60_000, 1000)).toBe(true); // pid reused later
    expect(isStale(7, 5, 2500, 1000)).toBe(false); // within the clock's slack
  });

  test("kills and removes only the stale ones, waiting until they are empty", () => {
    const { io, killed, removed } = fakeIo(
      { 10: 100, 20: null, 99: 0 },
      {
        "bunit-10": { changed: 200, populatedFor: 0 },
        "bunit-20": { changed: 200, populatedFor: 50 },
        "bunit-99": { changed: 0, populatedFor: 0 },
        other: { changed: 0, populatedFor: 0 },
      },
    );
    const r = cleanStaleCgroups(io, 99);
    expect(killed).toEqual(["/cg/bunit-20"]);
    expect(removed).toEqual(["/cg/bunit-20"]);
    expect(r.messages).toEqual(["A previous bunit (PID 20) died without stopping its units: killed 3 leftover process(es) and removed /cg/bunit-20."]);
  });

  test("no cgroup2: nothing to do", () => {
    const { io } = fakeIo({}, {});
    expect(cleanStaleCgroups({ ...io, parent: () => null }).cleaned).toEqual([]);
  });

  test("start time from /proc/PID/stat (field 22), a command with spaces and parentheses", () => {
    const stat = `42 (a (b) c) S 1 42 42 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 12345 1000 10 0`;
    expect(startMsFromStat(stat, 1_000_000, 100)).toBe(1_000_000 + 123_450);
  });
});
