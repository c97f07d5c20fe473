/**
 * sd_notify messages, the watchdog and reloads on the fake host: READY/RELOADING/STOPPING/
 * STATUS/MAINPID/FDSTORE, NotifyAccess=, WatchdogSec= with WATCHDOG=1 pings, WATCHDOG_USEC=
 * and WATCHDOG=trigger, ExecReload= success, failure and timeout, ReloadSignal=.
 */
import { describe, expect, test } from "bun:test";
import { FakeHost, unitFromText } from "../testing/fake-host.ts";
import { ServiceUnit } from "./service-unit.ts";

function make(service: string, h = new FakeHost()) {
  const s = h.add(new ServiceUnit(unitFromText("a.service", `[Service]\n${service}\n`), h));
  return { h, s, path: () => h.path("a.service") };
}

/** A Type=notify service that is running, and its main process. */
function notifyRunning(service = "") {
  return notifyRunningOn(new FakeHost(), service);
}

function notifyRunningOn(h: FakeHost, service = "") {
  const m = make(`Type=notify\nExecStart=/bin/main\n${service}`, h);
  m.s.start();
  const main = m.h.spawner.last("/bin/main");
  m.s.notify(main.pid, "READY=1", []);
  expect(m.s.subState()).toBe("running");
  return { ...m, main };
}

describe("notifications", () => {
  test("NotifyAccess=: main refuses other senders (their fds are closed), all accepts any", () => {
    const { h, s, main } = notifyRunning();
    s.notify(main.pid + 50, "STATUS=from elsewhere", [40, 41]);
    expect(s.statusText).toBeNull();
    expect(h.closedFds).toEqual([40, 41]);
    s.notify(main.pid, "STATUS=ok", []);
    expect(s.statusText).toBe("ok");
    // NotifyAccess=all: any process of the service's cgroup, not any process at all.
    const h2 = new FakeHost();
    const cg = h2.useCgroups();
    const all = make("ExecStart=/bin/main\nNotifyAccess=all", h2);
    all.s.start();
    const child = h2.spawner.external("child");
    all.s.notify(child.pid, "STATUS=stranger", []);
    expect(all.s.statusText).toBeNull();
    cg.join(cg.unitPath("a.service"), child);
    all.s.notify(child.pid, "STATUS=child", []);
    expect(all.s.statusText).toBe("child");
    const none = make("ExecStart=/bin/main\nNotifyAccess=none");
    none.s.start();
    none.s.notify(none.h.spawner.last().pid, "STATUS=x", []);
    expect(none.s.statusText).toBeNull();
  });

  test("NotifyAccess=exec accepts control processes too", async () => {
    const { h, s } = make("Type=notify\nNotifyAccess=exec\nExecStartPre=/bin/pre\nExecStart=/bin/main");
    s.start();
    s.notify(h.spawner.last("/bin/pre").pid, "STATUS=preparing", []);
    expect(s.statusText).toBe("preparing");
  });

  test("RELOADING=1 then READY=1: running, reload-notify, running", () => {
    const { h, s, path, main } = notifyRunning();
    s.notify(main.pid, "RELOADING=1", []);
    expect([s.subState(), s.activeState()]).toEqual(["reload-notify", "reloading"]);
    s.notify(main.pid, "READY=1", []);
    expect(path()).toEqual(["dead>start", "start>running", "running>reload-notify", "reload-notify>running"]);
    expect(h.clock.pendingTimers()).toBe(0);
  });

  test("RELOADING=1 without READY=1: back to running after TimeoutStartSec=", async () => {
    const { h, s, main } = notifyRunning("TimeoutStartSec=4");
    s.notify(main.pid, "RELOADING=1", []);
    await h.advance(4e6);
    expect(s.subState()).toBe("running");
    expect(h.messages("a.service")).toContain("Reload operation timed out.");
  });

  test("the main process exiting while reload-notify: the service stops", async () => {
    const { h, s, path, main } = notifyRunning();
    s.notify(main.pid, "RELOADING=1", []);
    main.exit(1);
    await h.settle();
    expect(path().slice(-1)).toEqual(["reload-notify>failed"]);
  });

  test("STOPPING=1: stop-sigterm without a signal; the exit ends it; SIGKILL if it does not exit in time", async () => {
    const { h, s, path, main } = notifyRunning("TimeoutStopSec=3");
    s.notify(main.pid, "STOPPING=1", []);
    expect(s.subState()).toBe("stop-sigterm");
    expect(h.killer.sent).toEqual([]);
    main.exit(0);
    await h.settle();
    expect(path().slice(-2)).toEqual(["running>stop-sigterm", "stop-sigterm>dead"]);
    const slow = notifyRunning("TimeoutStopSec=3");
    slow.s.notify(slow.main.pid, "RELOADING=1", []);
    slow.s.notify(slow.main.pid, "STOPPING=1", []);
    await slow.h.advance(3e6);
    expect(slow.h.killer.to(slow.main.pid)).toEqual([9]);
    expect(slow.path().slice(-3)).toEqual(["reload-notify>stop-sigterm", "stop-sigterm>stop-sigkill", "stop-sigkill>failed"]);
  });

  test("MAINPID=: a pid that does not exist is ignored", () => {
    const { h, s, main } = notifyRunning();
    s.notify(main.pid, "MAINPID=5000000", []);
    expect(s.mainPid).toBe(main.pid);
    expect(h.messages("a.service")).toContain("New main PID 5000000 does not exist, ignoring.");
  });

  test("MAINPID= of a process of the service: it becomes the main process; the old one's exit no longer counts", async () => {
    const { h, s, path, main } = notifyRunning();
    // Forked by the main process: in its session (no cgroups here).
    const daemon = h.spawner.external("daemon");
    h.probe.sessions.set(daemon.pid, main.pid);
    s.notify(main.pid, `MAINPID=${daemon.pid}`, []);
    expect(s.mainPid).toBe(daemon.pid);
    main.exit(0);
    await h.settle();
    expect(s.subState()).toBe("running");
    s.stop();
    expect(h.killer.to(daemon.pid)).toEqual([15]);
    expect(daemon.alive).toBe(false);
    await h.settle();
    expect(path().slice(-2)).toEqual(["running>stop-sigterm", "stop-sigterm>dead"]);
  });

  // Issue 15: a MAINPID= from a non-root sender may only name a process of the service (its
  // cgroup, or without cgroups its session), never pid 1, the daemon or the control process
  // (systemd's service_is_suitable_main_pid()); a root sender may name a foreign process.
  test("MAINPID= trust: a foreign process only from root; never the daemon, init or the control process", () => {
    const { h, s, main } = notifyRunning("ExecReload=/bin/reload\nNotifyAccess=all");
    const foreign = h.spawner.external("sshd");
    s.notify(main.pid, `MAINPID=${foreign.pid}`, [], 1000);
    expect(s.mainPid).toBe(main.pid);
    expect(h.messages("a.service")).toContain(`New main PID ${foreign.pid} does not belong to service, refusing.`);
    s.notify(main.pid, `MAINPID=${foreign.pid}`, []);
    expect(s.mainPid).toBe(main.pid); // uid unknown: not root
    h.spawner.external("bunit", h.probe.self);
    s.notify(main.pid, `MAINPID=${h.probe.self}`, [], 0);
    expect(s.mainPid).toBe(main.pid);
    expect(h.messages("a.service")).toContain(`New main PID ${h.probe.self} is the manager itself, refusing.`);
    s.reload(() => {});
    const ctl = h.spawner.last("/bin/reload");
    s.notify(main.pid, `MAINPID=${ctl.pid}`, [], 0);
    expect(s.mainPid).toBe(main.pid);
    expect(h.messages("a.service")).toContain(`New main PID ${ctl.pid} is the control process, refusing.`);
    s.notify(main.pid, `MAINPID=${foreign.pid}`, [], 0);
    expect(s.mainPid).toBe(foreign.pid);
  });

  test("MAINPID= trust with cgroups: a process of the unit's cgroup is taken, one outside is not", () => {
    const h = new FakeHost();
    const cg = h.useCgroups();
    const { s, main } = notifyRunningOn(h);
    const outside = h.spawner.external("outside");
    h.probe.sessions.set(outside.pid, main.pid); // same session does not count where there is a cgroup
    s.notify(main.pid, `MAINPID=${outside.pid}`, [], 1000);
    expect(s.mainPid).toBe(main.pid);
    const inside = h.spawner.external("inside");
    cg.join(cg.unitPath("a.service"), inside);
    s.notify(main.pid, `MAINPID=${inside.pid}`, [], 1000);
    expect(s.mainPid).toBe(inside.pid);
  });

  test("FDSTORE=1: kept up to FileDescriptorStoreMax=, passed to the next main process, closed when the service ends", async () => {
    const { h, s, main } = notifyRunning("FileDescriptorStoreMax=2");
    s.notify(main.pid, "FDSTORE=1\nFDNAME=conn", [50, 51, 52]);
    expect(h.closedFds).toEqual([52]);
    s.notify(main.pid, "STATUS=no store", [53]);
    expect(h.closedFds).toEqual([52, 53]);
    main.exit(1);
    await h.settle();
    expect(h.closedFds).toEqual([52, 53, 51, 50]); // in the store's order: newest first
    const kept = notifyRunning("FileDescriptorStoreMax=4\nFileDescriptorStorePreserve=yes");
    kept.s.notify(kept.main.pid, "FDSTORE=1\nFDNAME=conn", [60]);
    kept.main.exit(0);
    await kept.h.settle();
    kept.s.start();
    expect(kept.h.spawner.last().spec.fds).toEqual([60]);
    expect(kept.h.spawner.last().spec.env.LISTEN_FDNAMES).toBe("conn");
  });

  test("FDSTORE=1: the store (newest first) and each fd's FDPOLL= are the same after daemon-reexec", () => {
    const { h, s, main } = notifyRunning("FileDescriptorStoreMax=4");
    s.notify(main.pid, "FDSTORE=1\nFDNAME=old", [60]);
    s.notify(main.pid, "FDSTORE=1\nFDNAME=new\nFDPOLL=0", [61]);
    const before = s.fdStore.list().map((e) => ({ ...e }));
    expect(before).toEqual([
      { fd: 61, name: "new", poll: false },
      { fd: 60, name: "old", poll: true },
    ]);
    const next = new ServiceUnit(s.config, h);
    next.deserialize(s.serialize()!.data);
    expect(next.fdStore.list()).toEqual(before);
  });

  test("FDSTORE=1 with FileDescriptorStoreMax=0 closes the fds", () => {
    const { h, s, main } = notifyRunning();
    s.notify(main.pid, "FDSTORE=1", [70]);
    expect(h.closedFds).toEqual([70]);
  });
});

describe("watchdog", () => {
  test("WatchdogSec=: WATCHDOG_USEC= in the environment; pings keep it alive; silence sends SIGABRT and fails with watchdog", async () => {
    const { h, s, path, main } = notifyRunning("WatchdogSec=5");
    expect(main.spec.env.WATCHDOG_USEC).toBe("5000000");
    for (let i = 0; i < 3; i++) {
      await h.advance(4e6);
      s.notify(main.pid, "WATCHDOG=1", []);
    }
    expect(s.subState()).toBe("running");
    await h.advance(5e6);
    expect(h.killer.sent).toEqual([{ pid: main.pid, signal: 6, group: false }]);
    expect(path().slice(-2)).toEqual(["running>stop-watchdog", "stop-watchdog>failed"]);
    expect(s.result).toBe("watchdog");
  });

  test("a main process that survives the watchdog signal: SIGKILL after TimeoutAbortSec=", async () => {
    const { h, s, path, main } = notifyRunning("WatchdogSec=5\nTimeoutAbortSec=2\nTimeoutStopSec=30");
    main.ignores.add(6);
    await h.advance(7e6);
    expect(h.killer.to(main.pid)).toEqual([6, 9]);
    expect(path().slice(-3)).toEqual(["running>stop-watchdog", "stop-watchdog>stop-sigkill", "stop-sigkill>failed"]);
    expect(s.result).toBe("watchdog");
  });

  test("WatchdogSignal= replaces SIGABRT; Restart=on-watchdog restarts", async () => {
    const { h, s, path, main } = notifyRunning("WatchdogSec=1\nWatchdogSignal=SIGTERM\nRestart=on-watchdog");
    await h.advance(1e6);
    expect(h.killer.to(main.pid)).toEqual([15]);
    expect(path().slice(-2)).toEqual(["running>stop-watchdog", "stop-watchdog>auto-restart"]);
    void s;
  });

  test("WATCHDOG_USEC= changes the timeout; WATCHDOG=trigger fires it at once", async () => {
    const { h, s, main } = notifyRunning("WatchdogSec=5");
    s.notify(main.pid, "WATCHDOG_USEC=20000000", []);
    await h.advance(19e6);
    expect(s.subState()).toBe("running");
    s.notify(main.pid, "WATCHDOG=trigger", []);
    expect(s.subState()).toBe("stop-watchdog");
    await h.settle();
    expect(s.result).toBe("watchdog");
  });

  test("the watchdog runs during Type=notify's start too", async () => {
    const { h, s, path } = make("Type=notify\nExecStart=/bin/main\nWatchdogSec=2\nTimeoutStartSec=60");
    s.start();
    await h.advance(2e6);
    expect(path().slice(-2)).toEqual(["start>stop-watchdog", "stop-watchdog>failed"]);
    expect(s.result).toBe("watchdog");
  });

  test("no watchdog without WatchdogSec=", async () => {
    const { h, s } = notifyRunning();
    await h.advance(3600e6);
    expect(s.subState()).toBe("running");
    expect(h.killer.sent).toEqual([]);
  });
  // Found by security's notify fuzzer (test/robustness/fuzz-notify.test.ts): WATCHDOG_USEC= while
  // stopping armed the watchdog, whose stop-sigterm -> stop-watchdog transition then threw.
  test("WATCHDOG_USEC= while stopping arms no watchdog", async () => {
    const { h, s, main } = notifyRunning("NotifyAccess=all\nTimeoutStopSec=5");
    main.ignores.add(15);
    s.stop();
    expect(s.subState()).toBe("stop-sigterm");
    s.notify(main.pid, "WATCHDOG_USEC=200000", []);
    await h.advance(1e6);
    expect(s.subState()).toBe("stop-sigterm");
  });
});

describe("reload", () => {
  function reload(s: ServiceUnit): { answer: boolean | null } {
    const r = { answer: null as boolean | null };
    s.reload((ok) => (r.answer = ok));
    return r;
  }

  test("ExecReload= succeeds: reload, then running; the answer is ok; MAINPID is passed", async () => {
    const { h, s, path, main } = notifyRunning("ExecReload=/bin/reload $MAINPID");
    const r = reload(s);
    expect([s.subState(), s.activeState()]).toEqual(["reload", "reloading"]);
    const p = h.spawner.last("/bin/reload");
    expect(p.spec.argv).toEqual(["/bin/reload", String(main.pid)]);
    p.exit(0);
    await h.settle();
    expect(r.answer).toBe(true);
    expect(path().slice(-2)).toEqual(["running>reload", "reload>running"]);
  });

  test("READY=1 while ExecReload= runs: the reload completes when its control process ends", async () => {
    const { h, s, path, main } = notifyRunning("ExecReload=/bin/reload");
    const r = reload(s);
    s.notify(main.pid, "READY=1", []);
    expect([s.subState(), r.answer]).toEqual(["reload", null]);
    h.spawner.last("/bin/reload").exit(0);
    await h.settle();
    expect([s.subState(), r.answer]).toEqual(["running", true]);
    expect(path().slice(-2)).toEqual(["running>reload", "reload>running"]);
    expect(h.messages("a.service")).not.toContain("Reload failed.");
  });

  test("Type=notify-reload: ReloadSignal= (SIGHUP), then RELOADING=1 and READY=1 complete the reload", async () => {
    const { h, s, path } = make("Type=notify-reload\nExecStart=/bin/main");
    s.start();
    const main = h.spawner.last("/bin/main");
    s.notify(main.pid, "READY=1", []);
    const r = reload(s);
    expect(h.killer.to(main.pid)).toEqual([1]);
    expect([s.subState(), r.answer]).toEqual(["reload-signal", null]);
    s.notify(main.pid, "RELOADING=1", []);
    s.notify(main.pid, "READY=1", []);
    expect([s.subState(), r.answer]).toEqual(["running", true]);
    expect(path().slice(-3)).toEqual(["running>reload-signal", "reload-signal>reload-notify", "reload-notify>running"]);
  });

  test("Type=notify-reload: no READY=1 within TimeoutStartSec=: running again, not ok", async () => {
    const { h, s } = make("Type=notify-reload\nExecStart=/bin/main\nTimeoutStartSec=2");
    s.start();
    s.notify(h.spawner.last("/bin/main").pid, "READY=1", []);
    const r = reload(s);
    await h.advance(2e6);
    expect([s.subState(), r.answer]).toEqual(["running", false]);
  });

  test("ExecReload= fails: running as before, the answer is not ok, the result stays success", async () => {
    const { h, s } = notifyRunning("ExecReload=/bin/reload");
    h.spawner.behaviour.set("/bin/reload", { exit: 1 });
    const r = reload(s);
    await h.settle();
    expect([s.subState(), s.result, r.answer]).toEqual(["running", "success", false]);
  });

  test("ExecReload= times out after TimeoutStartSec=: the reload process is killed, running again, not ok", async () => {
    const { h, s } = notifyRunning("ExecReload=/bin/reload\nTimeoutStartSec=2");
    const r = reload(s);
    await h.advance(2e6);
    expect(h.killer.to(h.spawner.last("/bin/reload").pid)).toEqual([9]);
    expect([s.subState(), r.answer]).toEqual(["running", false]);
  });

  test("RemainAfterExit=yes oneshot: reload from exited returns to exited", async () => {
    const { h, s, path } = make("Type=oneshot\nRemainAfterExit=yes\nExecStart=/bin/setup\nExecReload=/bin/reload");
    h.spawner.behaviour.set("/bin/setup", { exit: 0 });
    h.spawner.behaviour.set("/bin/reload", { exit: 0 });
    s.start();
    await h.settle();
    const r = reload(s);
    await h.settle();
    expect(r.answer).toBe(true);
    expect(path().slice(-2)).toEqual(["exited>reload", "reload>exited"]);
  });

  test("no ExecReload=: ReloadSignal= (default SIGHUP) goes to the main process, no state change", () => {
    const { h, s, main } = notifyRunning("ReloadSignal=SIGUSR1");
    h.transitions.length = 0;
    const r = reload(s);
    expect(r.answer).toBe(true);
    expect(h.killer.sent).toEqual([{ pid: main.pid, signal: 10, group: false }]);
    expect(h.transitions).toEqual([]);
  });

  test("cannot reload what is not active or has nothing to reload with", () => {
    const { s } = make("ExecStart=/bin/main\nExecReload=/bin/reload");
    expect(reload(s).answer).toBe(false);
    const n = notifyRunning();
    expect(n.s.canReload()).toContain("has no ExecReload=");
    expect(reload(n.s).answer).toBe(false);
  });

  test("the main process exiting during ExecReload= (Restart=on-failure): the failure is kept for after the reload", async () => {
    const { h, s, main } = notifyRunning("ExecReload=/bin/reload\nRestart=on-failure");
    reload(s);
    main.exit(1);
    await h.settle();
    expect(s.result).toBe("exit-code");
  });

  // systemd re-enters running after the reload (service_enter_running()), which stops a service
  // whose main process is gone (it was a bug: left "running" without one).
  test("the main process exiting during ExecReload= stops the service once the reload is over", async () => {
    const { h, s } = notifyRunning("ExecReload=/bin/reload");
    reload(s);
    main(h).exit(1);
    await h.settle();
    h.spawner.last("/bin/reload").exit(0);
    await h.settle();
    expect([s.subState(), s.result]).toEqual(["failed", "exit-code"]);
  });
});

function main(h: FakeHost) {
  return h.spawner.last("/bin/main");
}
