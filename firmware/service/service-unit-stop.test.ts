/**
 * The service state machine's stop paths on the fake host: ExecStop=/ExecStopPost= order and
 * failures, SIGTERM then SIGKILL after TimeoutStopSec=, KillMode=, SendSIGHUP=/SendSIGKILL=,
 * stopping while starting.
 */
import { describe, expect, test } from "bun:test";
import { FakeHost, unitFromText } from "../testing/fake-host.ts";
import { ServiceUnit } from "./service-unit.ts";

function make(service: string, h = new FakeHost()) {
  const s = h.add(new ServiceUnit(unitFromText("a.service", `[Service]\n${service}\n`), h));
  return { h, s, path: () => h.path("a.service") };
}

/** Starts a Type=simple service and returns its main process. */
function running(service: string, h = new FakeHost()) {
  const m = make(`ExecStart=/bin/main\n${service}`, h);
  m.s.start();
  expect(m.s.subState()).toBe("running");
  return { ...m, main: m.h.spawner.last("/bin/main") };
}

describe("stop", () => {
  test("SIGTERM to the main process's group; its exit ends the service (dead, success)", async () => {
    const { h, s, path, main } = running("");
    s.stop();
    expect(h.killer.sent).toEqual([{ pid: main.pid, signal: 15, group: true }]);
    expect(s.activeState()).toBe("deactivating");
    await h.settle();
    expect(path()).toEqual(["dead>start", "start>running", "running>stop-sigterm", "stop-sigterm>dead"]);
    expect(s.result).toBe("success");
    expect(h.clock.pendingTimers()).toBe(0);
  });

  test("a main process ignoring SIGTERM gets SIGKILL after TimeoutStopSec=, and the result is timeout", async () => {
    const { h, s, path, main } = running("TimeoutStopSec=5");
    main.ignores.add(15);
    s.stop();
    await h.advance(4_999_999);
    expect(s.subState()).toBe("stop-sigterm");
    await h.advance(1);
    expect(h.killer.to(main.pid)).toEqual([15, 9]);
    expect(path()).toEqual(["dead>start", "start>running", "running>stop-sigterm", "stop-sigterm>stop-sigkill", "stop-sigkill>failed"]);
    expect(s.result).toBe("timeout");
  });

  test("a process that survives SIGKILL too: given up after another TimeoutStopSec=", async () => {
    const h = new FakeHost();
    h.spawner.ignoredByDefault.add(15).add(9);
    const { s, path } = running("TimeoutStopSec=5", h);
    s.stop();
    await h.advance(10e6);
    expect(path().slice(-3)).toEqual(["running>stop-sigterm", "stop-sigterm>stop-sigkill", "stop-sigkill>failed"]);
    expect(s.mainPid).toBeNull();
    expect(s.result).toBe("timeout");
  });

  test("KillSignal=, SendSIGHUP=yes and KillMode=mixed: the first signals to the main process only, SIGKILL to the group", async () => {
    const { h, s, main } = running("KillSignal=SIGINT\nSendSIGHUP=yes\nKillMode=mixed\nTimeoutStopSec=1");
    main.ignores.add(2);
    s.stop();
    await h.advance(1e6);
    expect(h.killer.sent).toEqual([
      { pid: main.pid, signal: 2, group: false },
      { pid: main.pid, signal: 1, group: false },
      { pid: main.pid, signal: 9, group: true },
    ]);
    expect(s.subState()).toBe("failed");
  });

  test("KillMode=process signals the main process alone; KillMode=none sends nothing and the service is left", async () => {
    const p = running("KillMode=process");
    p.s.stop();
    expect(p.h.killer.sent).toEqual([{ pid: p.main.pid, signal: 15, group: false }]);
    const n = running("KillMode=none");
    n.s.stop();
    await n.h.settle();
    expect(n.h.killer.sent).toEqual([]);
    expect(n.s.subState()).toBe("dead");
    expect(n.main.alive).toBe(true);
  });

  test("SendSIGKILL=no: after the SIGTERM timeout the service goes on to the final SIGTERM, then gives up", async () => {
    const { h, s, path, main } = running("SendSIGKILL=no\nTimeoutStopSec=2");
    main.ignores.add(15);
    s.stop();
    await h.advance(6e6);
    expect(h.killer.to(main.pid)).toEqual([15, 15]);
    expect(path().slice(2)).toEqual(["running>stop-sigterm", "stop-sigterm>final-sigterm", "final-sigterm>failed"]);
    expect(s.result).toBe("timeout");
  });

  // The stop-sigterm timeout with SendSIGKILL=no dropped the control process through
  // ControlSlot.drop(), which SIGKILLed it (a bug, fixed).
  test("SendSIGKILL=no: a hanging ExecStop= is never sent SIGKILL", async () => {
    const { h, s } = running("ExecStop=/bin/stop\nSendSIGKILL=no\nTimeoutStopSec=1");
    s.stop();
    const stop = h.spawner.last("/bin/stop");
    stop.ignores.add(15);
    await h.advance(10e6);
    expect(h.killer.to(stop.pid)).not.toContain(9);
  });

  test("processes that survive SIGKILL: given up on after TimeoutStopSec=, no second SIGKILL", async () => {
    const { h, s, main } = running("ExecStop=/bin/stop\nTimeoutStopSec=1");
    s.stop();
    const stop = h.spawner.last("/bin/stop");
    for (const p of [stop, main]) p.ignores.add(15), p.ignores.add(9);
    await h.advance(10e6);
    expect(h.killer.to(stop.pid)).toEqual([15, 9]);
    expect([s.subState(), s.result]).toEqual(["failed", "timeout"]);
    expect(h.messages("a.service")).toContain("Processes still around after SIGKILL. Ignoring.");
  });

  test("FinalKillSignal= replaces SIGKILL", async () => {
    const { h, s, main } = running("FinalKillSignal=SIGQUIT\nTimeoutStopSec=1");
    main.ignores.add(15);
    s.stop();
    await h.advance(1e6);
    expect(h.killer.to(main.pid)).toEqual([15, 3]);
    expect(s.subState()).toBe("failed");
  });

  test("stop() when dead, failed or already stopping does nothing", async () => {
    const { h, s, main } = running("TimeoutStopSec=5");
    main.ignores.add(15);
    s.stop();
    s.stop();
    expect(h.killer.sent).toHaveLength(1);
    await h.advance(10e6);
    s.stop();
    expect(h.killer.sent).toHaveLength(2);
    expect(s.subState()).toBe("failed");
  });
});

describe("ExecStop= and ExecStopPost=", () => {
  test("order: ExecStop= while the main process runs, SIGTERM to what is left, ExecStopPost= after it is gone", async () => {
    const { h, s, path, main } = running("ExecStop=/bin/stop1\nExecStop=/bin/stop2\nExecStopPost=/bin/post");
    s.stop();
    expect(s.subState()).toBe("stop");
    const stop1 = h.spawner.last("/bin/stop1");
    expect(stop1.spec.env.MAINPID).toBe(String(main.pid));
    stop1.exit(0);
    await h.settle();
    h.spawner.last("/bin/stop2").exit(0);
    await h.settle();
    expect(h.killer.to(main.pid)).toEqual([15]);
    expect(s.subState()).toBe("stop-post");
    const post = h.spawner.last("/bin/post");
    expect(post.spec.env).toMatchObject({ SERVICE_RESULT: "success", EXIT_CODE: "killed", EXIT_STATUS: "15" });
    post.exit(0);
    await h.settle();
    expect(h.spawner.names()).toEqual(["/bin/main", "/bin/stop1", "/bin/stop2", "/bin/post"]);
    expect(path().slice(2)).toEqual(["running>stop", "stop>stop-sigterm", "stop-sigterm>stop-post", "stop-post>dead"]);
  });

  test("ExecStop= after which the main process already exited: no signal, straight to ExecStopPost=", async () => {
    const { h, s, path, main } = running("ExecStop=/bin/stop\nExecStopPost=/bin/post");
    s.stop();
    main.exit(0);
    await h.settle();
    h.spawner.last("/bin/stop").exit(0);
    await h.settle();
    expect(h.killer.sent).toEqual([]);
    expect(path().slice(2)).toEqual(["running>stop", "stop>stop-post"]);
    h.spawner.last("/bin/post").exit(0);
    await h.settle();
    expect(s.subState()).toBe("dead");
  });

  test("a failing ExecStop= does not change the result; the stop goes on", async () => {
    const { h, s } = running("ExecStop=/bin/stop");
    h.spawner.behaviour.set("/bin/stop", { exit: 1 });
    s.stop();
    await h.settle();
    expect([s.subState(), s.result]).toEqual(["dead", "success"]);
  });

  test("a failing ExecStopPost= does not fail the service; '-' is accepted", async () => {
    const { h, s } = running("ExecStopPost=/bin/post1\nExecStopPost=-/bin/post2\nExecStopPost=/bin/post3");
    h.spawner.behaviour.set("/bin/post1", { exit: 0 });
    h.spawner.behaviour.set("/bin/post2", { exit: 7 });
    h.spawner.behaviour.set("/bin/post3", { exit: 1 });
    s.stop();
    await h.settle();
    expect(h.spawner.names()).toEqual(["/bin/main", "/bin/post1", "/bin/post2", "/bin/post3"]);
    expect([s.subState(), s.result]).toEqual(["dead", "success"]);
  });

  test("ExecStop= that hangs: SIGTERM to it and the main process after TimeoutStopSec=, result timeout", async () => {
    const { h, s, path, main } = running("ExecStop=/bin/stop\nTimeoutStopSec=3");
    s.stop();
    await h.advance(3e6);
    const stop = h.spawner.last("/bin/stop");
    expect(h.killer.sent).toEqual([
      { pid: main.pid, signal: 15, group: true },
      { pid: stop.pid, signal: 15, group: true },
    ]);
    expect(path().slice(2)).toEqual(["running>stop", "stop>stop-sigterm", "stop-sigterm>failed"]);
    expect(s.result).toBe("timeout");
  });

  test("ExecStopPost= that hangs: final SIGTERM, then final SIGKILL after TimeoutStopSec= each", async () => {
    const { h, s, path } = running("ExecStopPost=/bin/post\nTimeoutStopSec=3");
    s.stop();
    await h.settle();
    const post = h.spawner.last("/bin/post");
    post.ignores.add(15);
    await h.advance(3e6);
    expect(s.subState()).toBe("final-sigterm");
    await h.advance(3e6);
    expect(h.killer.to(post.pid)).toEqual([15, 9]);
    expect(path().slice(2)).toEqual([
      "running>stop-sigterm",
      "stop-sigterm>stop-post",
      "stop-post>final-sigterm",
      "final-sigterm>final-sigkill",
      "final-sigkill>failed",
    ]);
    expect(s.result).toBe("timeout");
  });

  test("an ExecStopPost= process that survives SIGKILL: given up after the final SIGKILL's timeout", async () => {
    const { h, s, path } = running("ExecStopPost=/bin/post\nTimeoutStopSec=1");
    s.stop();
    await h.settle();
    h.spawner.last("/bin/post").ignores.add(15).add(9);
    await h.advance(3e6);
    expect(path().slice(-2)).toEqual(["final-sigterm>final-sigkill", "final-sigkill>failed"]);
  });
});

describe("stop while starting", () => {
  test("during ExecStartPre=: the control process is killed, ExecStart= never runs, ExecStopPost= does", async () => {
    const { h, s, path } = make("ExecStartPre=/bin/pre\nExecStart=/bin/main\nExecStopPost=/bin/post");
    h.spawner.behaviour.set("/bin/post", { exit: 0 });
    s.start();
    const pre = h.spawner.last("/bin/pre");
    s.stop();
    expect(h.killer.sent).toEqual([{ pid: pre.pid, signal: 15, group: true }]);
    await h.settle();
    expect(h.spawner.names()).toEqual(["/bin/pre", "/bin/post"]);
    expect(path()).toEqual(["dead>start-pre", "start-pre>stop-sigterm", "stop-sigterm>stop-post", "stop-post>dead"]);
  });

  test("during ExecCondition=, during Type=notify's start, during ExecStartPost=", async () => {
    for (const [cfg, at] of [
      ["ExecCondition=/bin/cond\nExecStart=/bin/main", "condition"],
      ["Type=notify\nExecStart=/bin/main", "start"],
      ["ExecStart=/bin/main\nExecStartPost=/bin/post", "start-post"],
    ] as const) {
      const { h, s, path } = make(cfg);
      s.start();
      expect(s.subState()).toBe(at);
      s.stop();
      await h.settle();
      expect(path().slice(-2)).toEqual([`${at}>stop-sigterm`, "stop-sigterm>dead"]);
      expect(h.spawner.running()).toEqual([]);
    }
  });

  test("a control process that ignores SIGTERM during ExecStartPre=: SIGKILL after TimeoutStopSec=", async () => {
    const { h, s, path } = make("ExecStartPre=/bin/pre\nExecStart=/bin/main\nTimeoutStopSec=2");
    s.start();
    h.spawner.last("/bin/pre").ignores.add(15);
    s.stop();
    await h.advance(2e6);
    expect(path().slice(1)).toEqual(["start-pre>stop-sigterm", "stop-sigterm>stop-sigkill", "stop-sigkill>failed"]);
  });

  test("stop during ExecReload= kills the reload process and stops the service", async () => {
    const { h, s, main } = running("ExecReload=/bin/reload");
    let answer = null as boolean | null;
    s.reload((ok) => (answer = ok));
    const reload = h.spawner.last("/bin/reload");
    s.stop();
    await h.settle();
    expect(h.killer.to(reload.pid)).toEqual([15]);
    expect(h.killer.to(main.pid)).toEqual([15]);
    expect(s.subState()).toBe("dead");
    void answer;
  });

  // A stop (or a watchdog) cutting ExecReload= short answers the reload (it was a bug: the
  // manager's reloadUnit(), and `bunit reload UNIT` with it, waited forever).
  test("a reload interrupted by stop is answered (not ok)", async () => {
    const { h, s } = running("ExecReload=/bin/reload");
    let answer = null as boolean | null;
    s.reload((ok) => (answer = ok));
    s.stop();
    await h.settle();
    expect(answer).toBe(false);
  });
});

describe("with a cgroup", () => {
  function inCgroup(service: string) {
    const h = new FakeHost();
    const cg = h.useCgroups();
    const m = running(service, h);
    const path = cg.unitPath("a.service");
    expect(m.main.spec.cgroup).toBe(path);
    const child = h.spawner.external("child");
    cg.join(path, child);
    return { ...m, cg, child };
  }

  test("KillMode=control-group: SIGTERM to every process of the cgroup; the stop waits until the cgroup is empty", async () => {
    const { h, s, path, main, child, cg } = inCgroup("TimeoutStopSec=5");
    child.ignores.add(15);
    s.stop();
    expect(h.killer.to(child.pid)).toEqual([15]);
    expect(h.killer.to(main.pid)).toContain(15);
    await h.advance(1e6);
    expect(main.alive).toBe(false);
    expect(s.subState()).toBe("stop-sigterm");
    await h.advance(4e6);
    expect(h.killer.to(child.pid)).toEqual([15, 9]);
    await h.advance(100_000);
    expect(path().slice(-3)).toEqual(["running>stop-sigterm", "stop-sigterm>stop-sigkill", "stop-sigkill>failed"]);
    // The empty directory is kept for the next start and removed when the unit goes.
    expect(cg.removed).toEqual([]);
    s.dispose();
    expect(cg.removed).toEqual(["/sys/fs/cgroup/bunit-fake/a.service"]);
  });

  test("the cgroup directory is made once: a second start runs in the one the first left", async () => {
    const { h, s, main, cg } = inCgroup("");
    s.stop();
    await h.advance(100_000);
    expect(main.alive).toBe(false);
    expect(s.activeState()).toBe("inactive");
    s.start();
    await h.settle();
    expect(s.activeState()).toBe("active");
    expect(h.spawner.spawned.at(-1)!.spec.cgroup).toBe("/sys/fs/cgroup/bunit-fake/a.service");
    expect(cg.made.filter((p) => p.endsWith("/a.service")).length).toBe(2); // the start and inCgroup()'s own look-up
    expect(cg.removed).toEqual([]);
  });

  test("KillMode=mixed: SIGTERM to the main process only, SIGKILL to the whole cgroup", async () => {
    const { h, s, main, child } = inCgroup("KillMode=mixed\nTimeoutStopSec=1");
    main.ignores.add(15);
    s.stop();
    expect(h.killer.to(child.pid)).toEqual([]);
    await h.advance(1e6);
    expect(h.killer.to(child.pid)).toEqual([9]);
    expect(s.subState()).toBe("failed");
  });

  test("ExitType=cgroup: the service runs on after its main process exits, until the cgroup is empty", async () => {
    const { h, s, path, main, child } = inCgroup("ExitType=cgroup");
    main.exit(0);
    await h.advance(1e6);
    expect(s.subState()).toBe("running");
    child.exit(0);
    await h.advance(200_000);
    expect(path().slice(-1)).toEqual(["running>dead"]);
  });

  test("ExitType=main (the default): the main process's exit stops the processes left in the cgroup", async () => {
    const { h, s, child } = inCgroup("");
    h.spawner.last("/bin/main").exit(0);
    await h.settle();
    expect(h.killer.to(child.pid)).toEqual([15]);
    expect(s.subState()).toBe("dead");
  });
});
