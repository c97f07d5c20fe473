/**
 * The socket state machine with a fake host and fake service: real AF_UNIX listening sockets in
 * a temporary directory, fake control processes and clock. The last test checks that the tests
 * of this file reached every transition of SOCKET_TRANSITIONS that the unit can make.
 */
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { existsSync, writeFileSync } from "node:fs";
import * as n from "../native.ts";
import * as C from "../sys/constants.ts";
import { SOCKET_TRANSITIONS } from "./socket-state.ts";
import { unitFromText } from "../testing/fake-host.ts";
import { reachedTransitions, SocketTestHost } from "../testing/socket-test-host.ts";

const SEC = 1_000_000;
const SIGTERM = 15;
const SIGKILL = 9;

let h: SocketTestHost;
beforeEach(() => {
  h = new SocketTestHost();
});
afterEach(() => h.cleanup());

describe("start", () => {
  test("without commands: dead -> start-open -> listening, the port open and watched", () => {
    h.service();
    const s = h.socket("ListenStream=%d/a.sock");
    s.start();
    expect(h.states("s.socket")).toEqual(["dead", "start-open", "listening"]);
    expect(s.activeState()).toBe("active");
    expect(existsSync(`${h.dir}/a.sock`)).toBe(true);
    expect(h.watcher.handlers.has(h.fd(s))).toBe(true);
  });

  test("ExecStartPre= runs before the ports open, ExecStartPost= after", async () => {
    h.service();
    const s = h.socket("ListenStream=%d/a.sock\nExecStartPre=/bin/pre\nExecStartPost=/bin/post");
    s.start();
    expect(s.state).toBe("start-pre");
    expect(existsSync(`${h.dir}/a.sock`)).toBe(false);
    h.spawner.last("/bin/pre").exit(0);
    await h.settle();
    expect(s.state).toBe("start-post");
    expect(existsSync(`${h.dir}/a.sock`)).toBe(true);
    h.spawner.last("/bin/post").exit(0);
    await h.settle();
    expect(h.states("s.socket")).toEqual(["dead", "start-pre", "start-open", "start-post", "listening"]);
    expect(s.result).toBe("success");
  });

  test("a failing ExecStartPre= fails the socket without opening it", async () => {
    h.service();
    h.spawner.behaviour.set("/bin/pre", { exit: 1 });
    const s = h.socket("ListenStream=%d/a.sock\nExecStartPre=/bin/pre");
    s.start();
    await h.settle();
    expect(h.states("s.socket")).toEqual(["dead", "start-pre", "failed"]);
    expect(s.result).toBe("exit-code");
    expect(existsSync(`${h.dir}/a.sock`)).toBe(false);
    h.spawner.behaviour.delete("/bin/pre");
    s.start(); // again, from failed
    expect(s.state).toBe("start-pre");
    expect(s.result).toBe("success");
  });

  test("ExecStartPre= timing out: final-sigterm, the process dies of SIGTERM, failed (timeout)", async () => {
    h.service();
    const s = h.socket("ListenStream=%d/a.sock\nExecStartPre=/bin/pre\nTimeoutSec=5");
    s.start();
    await h.advance(5 * SEC - 1);
    expect(s.state).toBe("start-pre");
    await h.advance(1);
    const pre = h.spawner.last("/bin/pre");
    expect(h.killer.to(pre.pid)).toEqual([SIGTERM]);
    expect(h.states("s.socket")).toEqual(["dead", "start-pre", "final-sigterm", "failed"]);
    expect(s.result).toBe("timeout");
  });

  test("final-sigterm escalates to final-sigkill after TimeoutSec=, then gives up", async () => {
    h.service();
    const s = h.socket("ListenStream=%d/a.sock\nExecStartPre=/bin/pre\nTimeoutSec=5");
    s.start();
    const pre = h.spawner.last("/bin/pre");
    pre.ignores.add(SIGTERM).add(SIGKILL); // stuck in the kernel
    await h.advance(5 * SEC);
    expect(s.state).toBe("final-sigterm");
    await h.advance(5 * SEC);
    expect(s.state).toBe("final-sigkill");
    expect(h.killer.to(pre.pid)).toEqual([SIGTERM, SIGKILL]);
    await h.advance(5 * SEC);
    expect(h.states("s.socket")).toEqual(["dead", "start-pre", "final-sigterm", "final-sigkill", "failed"]);
    expect(s.result).toBe("timeout");
  });

  test("SendSIGKILL=no: final-sigterm timing out ends the unit without final-sigkill", async () => {
    h.service();
    const s = h.socket("ListenStream=%d/a.sock\nExecStartPre=/bin/pre\nTimeoutSec=5\nSendSIGKILL=no");
    s.start();
    h.spawner.last("/bin/pre").ignores.add(SIGTERM);
    await h.advance(10 * SEC);
    expect(h.states("s.socket")).toEqual(["dead", "start-pre", "final-sigterm", "failed"]);
    expect(s.result).toBe("timeout");
  });

  // systemd.kill(5): SendSIGKILL=no leaves remaining processes alone (it was a bug: ControlSlot.drop()
  // SIGKILLed the control process group anyway).
  test("SendSIGKILL=no: no SIGKILL reaches the control process", async () => {
    h.service();
    const s = h.socket("ListenStream=%d/a.sock\nExecStartPre=/bin/pre\nTimeoutSec=5\nSendSIGKILL=no");
    s.start();
    const pre = h.spawner.last("/bin/pre");
    pre.ignores.add(SIGTERM);
    await h.advance(10 * SEC);
    expect(h.killer.to(pre.pid)).toEqual([SIGTERM]);
  });

  test("a control process that survives SIGKILL is given up on after TimeoutSec=, without a second SIGKILL", async () => {
    h.service();
    const s = h.socket("ListenStream=%d/a.sock\nExecStartPre=/bin/pre\nTimeoutSec=1");
    s.start();
    const pre = h.spawner.last("/bin/pre");
    pre.ignores.add(SIGTERM);
    pre.ignores.add(SIGKILL);
    await h.advance(10 * SEC);
    expect(h.killer.to(pre.pid)).toEqual([SIGTERM, SIGKILL]);
    expect([s.subState(), s.result]).toEqual(["failed", "timeout"]);
  });

  test("KillMode=process signals the control process alone; the default signals its group", async () => {
    h.service("g.service");
    const group = h.socket("ListenStream=%d/a.sock\nExecStartPre=/bin/pre\nTimeoutSec=1", "g.socket");
    group.start();
    await h.advance(SEC);
    expect(h.killer.sent.find((x) => x.signal === SIGTERM)?.group).toBe(true);
    const h2 = new SocketTestHost();
    try {
      h2.service();
      const single = h2.socket("ListenStream=%d/a.sock\nExecStartPre=/bin/pre\nTimeoutSec=1\nKillMode=process\nKillSignal=SIGINT");
      single.start();
      await h2.advance(SEC);
      expect(h2.killer.sent.filter((x) => x.signal !== SIGKILL)).toEqual([{ pid: h2.spawner.last("/bin/pre").pid, signal: 2, group: false }]);
    } finally {
      h2.cleanup();
    }
  });

  test("a failing ExecStartPost= goes through ExecStopPre= and ExecStopPost= to failed", async () => {
    h.service();
    h.spawner.behaviour.set("/bin/post", { exit: 3 });
    h.spawner.behaviour.set("/bin/stoppre", { exit: 0 });
    h.spawner.behaviour.set("/bin/stoppost", { exit: 0 });
    const s = h.socket("ListenStream=%d/a.sock\nExecStartPost=/bin/post\nExecStopPre=/bin/stoppre\nExecStopPost=/bin/stoppost");
    s.start();
    await h.settle();
    expect(h.states("s.socket")).toEqual(["dead", "start-open", "start-post", "stop-pre", "stop-post", "failed"]);
    expect(s.result).toBe("exit-code");
    expect(h.spawner.names()).toEqual(["/bin/post", "/bin/stoppre", "/bin/stoppost"]);
    expect(s.ports).toEqual([]);
  });

  test("ExecStartPost= timing out stops the socket (timeout)", async () => {
    h.service();
    const s = h.socket("ListenStream=%d/a.sock\nExecStartPost=/bin/post\nTimeoutSec=2");
    s.start();
    await h.advance(2 * SEC);
    expect(h.states("s.socket")).toEqual(["dead", "start-open", "start-post", "failed"]);
    expect(s.result).toBe("timeout");
    expect(h.spawner.last("/bin/post").alive).toBe(false); // the control process was killed
  });

  test("SocketUser=/SocketGroup=: start-chown, then listening; an unknown user fails it", () => {
    h.service("ok.service");
    h.service("bad.service");
    h.users.set("svc", { uid: 0, gid: 0, home: "/", shell: "/bin/sh" });
    const ok = h.socket("ListenStream=%d/a.sock\nSocketUser=svc", "ok.socket");
    ok.start();
    expect(h.states("ok.socket")).toEqual(["dead", "start-open", "start-chown", "listening"]);
    const bad = h.socket("ListenStream=%d/b.sock\nSocketGroup=nosuchgroup", "bad.socket");
    bad.start();
    expect(h.states("bad.socket")).toEqual(["dead", "start-open", "start-chown", "failed"]);
    expect(bad.result).toBe("exit-code");
  });

  test("a port that cannot be opened fails the start (resources) and closes the ports opened before", () => {
    h.service();
    writeFileSync(`${h.dir}/file`, "");
    const s = h.socket("ListenStream=%d/a.sock\nListenStream=%d/file/b.sock");
    s.start();
    expect(h.states("s.socket")).toEqual(["dead", "start-open", "failed"]);
    expect(s.result).toBe("resources");
    expect(s.ports).toEqual([]);
  });

  test("a socket whose service is active or missing refuses to start (resources)", () => {
    const svc = h.service();
    svc.start();
    const s = h.socket("ListenStream=%d/a.sock");
    expect(s.canStart()).toContain("already active");
    s.start();
    expect(h.states("s.socket")).toEqual(["dead", "failed"]);
    expect(s.result).toBe("resources");
    const lone = h.socket("ListenStream=%d/b.sock", "lone.socket");
    expect(lone.canStart()).toContain("not loaded");
  });

  test("StartLimitBurst=: the third start within the interval fails with start-limit-hit", async () => {
    h.service();
    const s = h.socket("ListenStream=%d/a.sock", "s.socket", "StartLimitIntervalSec=10\nStartLimitBurst=2");
    for (let i = 0; i < 2; i++) {
      s.start();
      expect(s.state).toBe("listening");
      s.stop();
      expect(s.state).toBe("dead");
      await h.advance(SEC);
    }
    s.start();
    expect(s.state).toBe("failed");
    expect(s.result).toBe("start-limit-hit");
    expect(h.messages("s.socket")).toContain("Start request repeated too quickly.");
    await h.advance(10 * SEC);
    s.start(); // a new window, from failed
    expect(s.state).toBe("listening");
    expect(s.result).toBe("success");
    expect(h.path("s.socket")).toContain("failed>start-open");
  });

  test("stop() during start-pre: stop-pre-sigterm, then dead once the process is gone", async () => {
    h.service();
    const s = h.socket("ListenStream=%d/a.sock\nExecStartPre=/bin/pre");
    s.start();
    s.stop();
    expect(s.state).toBe("stop-pre-sigterm");
    await h.settle();
    expect(h.states("s.socket")).toEqual(["dead", "start-pre", "stop-pre-sigterm", "dead"]);
    expect(s.result).toBe("success");
  });

  test("stop() during start-post with ExecStopPost=: stop-pre-sigterm, stop-post, dead", async () => {
    h.service();
    h.spawner.behaviour.set("/bin/stoppost", { exit: 0 });
    const s = h.socket("ListenStream=%d/a.sock\nExecStartPost=/bin/post\nExecStopPost=/bin/stoppost");
    s.start();
    expect(s.state).toBe("start-post");
    s.stop();
    await h.settle();
    expect(h.states("s.socket")).toEqual(["dead", "start-open", "start-post", "stop-pre-sigterm", "stop-post", "dead"]);
  });

  test("start() and stop() at rest do nothing", () => {
    h.service();
    const s = h.socket("ListenStream=%d/a.sock");
    s.stop();
    expect(h.transitions).toEqual([]);
    s.start();
    s.start();
    expect(h.states("s.socket")).toEqual(["dead", "start-open", "listening"]);
  });
});

describe("Accept=no activation", () => {
  test("a connection starts the service: running until the service stops, then listening again", async () => {
    const svc = h.service();
    svc.startsActive = false;
    const s = h.socket("ListenStream=%d/a.sock");
    s.start();
    expect(h.ready(s)).toBe(true);
    expect(h.startRequests).toEqual([{ name: "s.service", reason: "socket s.socket" }]);
    expect(s.state).toBe("running");
    await h.settle(); // the queued job runs
    expect(svc.starts).toBe(1);
    svc.set("active", "running");
    expect(s.state).toBe("running");
    svc.set("deactivating", "stop-sigterm");
    expect(s.state).toBe("running");
    svc.set("inactive", "dead");
    expect(s.state).toBe("listening");
    expect(h.ready(s)).toBe(true);
    expect(h.startRequests.length).toBe(2);
    expect(h.path("s.socket")).toEqual(["dead>start-open", "start-open>listening", "listening>running", "running>listening", "listening>running"]);
  });

  test("a service that fails or goes to auto-restart also returns the socket to listening", async () => {
    const svc = h.service();
    const s = h.socket("ListenStream=%d/a.sock");
    s.start();
    h.ready(s);
    await h.settle();
    svc.set("activating", "auto-restart");
    expect(s.state).toBe("listening");
    h.ready(s);
    svc.set("failed", "failed");
    expect(s.state).toBe("listening");
  });

  test("while the service has a job, its state changes leave the socket running", () => {
    const svc = h.service();
    const s = h.socket("ListenStream=%d/a.sock");
    s.start();
    h.ready(s);
    h.jobs.add("s.service");
    svc.set("inactive", "dead");
    expect(s.state).toBe("running");
  });

  test("a service started by other means makes a listening socket running", () => {
    const svc = h.service();
    const s = h.socket("ListenStream=%d/a.sock");
    s.start();
    svc.start();
    expect(s.state).toBe("running");
    expect(h.startRequests).toEqual([]);
  });

  test("a service already active or with a job: running without a new start request", () => {
    const svc = h.service();
    const s = h.socket("ListenStream=%d/a.sock");
    s.start();
    svc.active = "active"; // unannounced, as if the change were still on its way
    h.ready(s);
    expect(s.state).toBe("running");
    expect(h.startRequests).toEqual([]);
  });

  test("a start request that cannot be queued fails the socket (resources)", () => {
    h.service();
    h.acceptStarts = false;
    const s = h.socket("ListenStream=%d/a.sock");
    s.start();
    h.ready(s);
    expect(h.path("s.socket").at(-1)).toBe("listening>failed");
    expect(s.result).toBe("resources");
    expect(h.messages("s.socket")).toContain("Failed to queue service startup job for s.service");
  });

  test("a service that disappeared fails the socket (resources)", () => {
    h.service();
    const s = h.socket("ListenStream=%d/a.sock");
    s.start();
    h.units.delete("s.service");
    h.ready(s);
    expect(s.state).toBe("failed");
    expect(s.result).toBe("resources");
  });

  test("with a stop job scheduled for the socket, a connection starts nothing", () => {
    h.service();
    const s = h.socket("ListenStream=%d/a.sock");
    s.start();
    h.stopJobs.add("s.socket");
    h.ready(s);
    expect(s.state).toBe("listening");
    expect(h.startRequests).toEqual([]);
  });

  test("hold(): connections wait while held and activate once released", () => {
    h.service();
    const s = h.socket("ListenStream=%d/a.sock");
    s.start();
    s.hold(true);
    h.ready(s);
    expect(s.state).toBe("listening");
    expect(h.startRequests).toEqual([]);
    s.hold(false);
    expect(h.ready(s)).toBe(true);
    expect(s.state).toBe("running");
  });

  test("FlushPending=yes: connections queued while the service ran are discarded on return to listening", async () => {
    const svc = h.service();
    const s = h.socket("ListenStream=%d/a.sock\nFlushPending=yes");
    s.start();
    h.ready(s);
    await h.settle();
    const queued = h.connect("%d/a.sock");
    svc.set("inactive", "dead");
    expect(s.state).toBe("listening");
    // The queued connection was accepted and closed by the flush: the client sees EOF.
    expect(n.pollOne(queued, C.EPOLLIN, 1000) & (C.EPOLLIN | C.EPOLLHUP)).not.toBe(0);
    expect(n.read(queued, new Uint8Array(1))).toBe(0);
    expect(n.pollOne(h.fd(s), C.EPOLLIN, 0) & C.EPOLLIN).toBe(0);
  });

  test("POLLHUP on the listening socket stops it (resources)", () => {
    h.service();
    const s = h.socket("ListenStream=%d/a.sock");
    s.start();
    h.ready(s, 0, C.EPOLLIN | C.EPOLLHUP);
    expect(s.state).toBe("failed");
    expect(s.result).toBe("resources");
  });

  test("TriggerLimitBurst= within TriggerLimitIntervalSec=: trigger-limit-hit", async () => {
    const svc = h.service();
    const s = h.socket("ListenStream=%d/a.sock\nTriggerLimitIntervalSec=10\nTriggerLimitBurst=2\nExecStopPre=/bin/stoppre");
    s.start();
    for (let i = 0; i < 2; i++) {
      h.ready(s);
      await h.settle();
      svc.set("inactive", "dead");
      expect(s.state).toBe("listening");
    }
    h.ready(s);
    expect(s.state).toBe("stop-pre");
    expect(h.messages("s.socket")).toContain("Trigger limit hit, refusing further activation.");
    h.spawner.last("/bin/stoppre").exit(0);
    await h.settle();
    expect(s.state).toBe("failed");
    expect(s.result).toBe("trigger-limit-hit");
    expect(h.startRequests.length).toBe(2);
  });

  test("the trigger limit's window starts again after TriggerLimitIntervalSec=", async () => {
    const svc = h.service();
    const s = h.socket("ListenStream=%d/a.sock\nTriggerLimitIntervalSec=1\nTriggerLimitBurst=1");
    s.start();
    h.ready(s);
    await h.settle();
    svc.set("inactive", "dead");
    await h.advance(SEC);
    h.ready(s);
    expect(s.state).toBe("running");
  });

  // systemd's socket_watch_fds() sets the poll limit again each time the socket listens, which
  // starts it afresh: it counts wake-ups while the socket stays listening, not activations.
  test("PollLimitBurst=: each return to listening starts the poll limit afresh", async () => {
    const svc = h.service();
    const s = h.socket("ListenStream=%d/a.sock\nPollLimitIntervalSec=1\nPollLimitBurst=2");
    s.start();
    for (let i = 0; i < 4; i++) {
      expect(h.ready(s)).toBe(true);
      await h.settle();
      expect(s.state).toBe("running");
      svc.set("inactive", "dead");
    }
    expect(h.startRequests.length).toBe(4);
  });

  test("PollLimitBurst= while listening (Accept=yes): over it the port is not watched until the window ends; the unit does not fail", async () => {
    const s = h.socket("ListenStream=%d/a.sock\nAccept=yes\nPollLimitIntervalSec=1\nPollLimitBurst=2", "x.socket");
    s.start();
    for (let i = 0; i < 3; i++) h.connect("%d/a.sock");
    expect(h.ready(s)).toBe(true);
    expect(h.ready(s)).toBe(true);
    expect(h.ready(s)).toBe(true); // third wake-up: over the limit, not served
    expect(h.accepted.length).toBe(2);
    expect(h.ready(s)).toBe(false); // not re-armed
    await h.advance(SEC - 1);
    expect(h.ready(s)).toBe(false);
    await h.advance(1);
    expect(h.ready(s)).toBe(true);
    expect(h.accepted.length).toBe(3);
    expect(s.state).toBe("listening");
  });

  test("the service hitting its start limit stops the socket: service-start-limit-hit", async () => {
    const svc = h.service();
    const s = h.socket("ListenStream=%d/a.sock");
    s.start();
    h.ready(s);
    await h.settle();
    svc.startLimitHit = true;
    svc.set("failed", "failed");
    expect(s.state).toBe("failed");
    expect(s.result).toBe("service-start-limit-hit");
  });
});

describe("DeferTrigger=", () => {
  test("a start that would conflict is deferred, and proceeds when a unit stops", async () => {
    const svc = h.service();
    const other = h.service("other.service");
    other.start();
    h.conflicts.add("s.service");
    const s = h.socket("ListenStream=%d/a.sock\nDeferTrigger=yes");
    s.start();
    h.ready(s);
    expect(s.state).toBe("deferred");
    expect(s.activeState()).toBe("active");
    expect(h.startRequests).toEqual([]);
    h.jobs.add("other.service"); // a job runs: DeferTrigger=yes keeps waiting
    other.set("deactivating", "stop");
    s.unitStopped();
    expect(s.state).toBe("deferred");
    h.jobs.delete("other.service");
    h.conflicts.delete("s.service");
    other.set("inactive", "dead");
    expect(s.state).toBe("running");
    await h.settle();
    expect(svc.starts).toBe(1);
    expect(h.path("s.socket")).toContain("deferred>running");
  });

  test("DeferTriggerMaxSec= elapsing stops the socket (timeout)", async () => {
    h.service();
    h.conflicts.add("s.service");
    h.spawner.behaviour.set("/bin/stoppre", { exit: 0 });
    const s = h.socket("ListenStream=%d/a.sock\nDeferTrigger=patient\nDeferTriggerMaxSec=5\nExecStopPre=/bin/stoppre");
    s.start();
    h.ready(s);
    await h.advance(5 * SEC - 1);
    expect(s.state).toBe("deferred");
    await h.advance(1);
    expect(h.states("s.socket")).toEqual(["dead", "start-open", "listening", "deferred", "stop-pre", "failed"]);
    expect(s.result).toBe("timeout");
  });

  test("[Socket] RuntimeDirectory=/StateDirectory= exist before ExecStartPre=; the runtime one is removed at the end", async () => {
    h.service();
    h.dirs = { ...h.dirs, runtime: `${h.dir}/run`, state: `${h.dir}/state` };
    const s = h.socket("ListenStream=%d/a.sock\nRuntimeDirectory=sock-rt\nStateDirectory=sock-st\nExecStartPre=/bin/pre");
    s.start();
    expect([existsSync(`${h.dir}/run/sock-rt`), existsSync(`${h.dir}/state/sock-st`)]).toEqual([true, true]);
    h.spawner.last("/bin/pre").exit(0);
    await h.settle();
    s.stop();
    await h.settle();
    expect(s.state).toBe("dead");
    expect([existsSync(`${h.dir}/run/sock-rt`), existsSync(`${h.dir}/state/sock-st`)]).toEqual([false, true]);
  });

  test("DeferTriggerMaxSec= changed by daemon-reload while deferred applies at once, counted from the deferral", async () => {
    h.service();
    h.conflicts.add("s.service");
    const text = (max: number) => `[Socket]\nListenStream=${h.dir}/a.sock\nDeferTrigger=patient\nDeferTriggerMaxSec=${max}\n`;
    const s = h.socket(`ListenStream=%d/a.sock\nDeferTrigger=patient\nDeferTriggerMaxSec=60`);
    s.start();
    h.ready(s);
    await h.advance(2 * SEC);
    expect(s.reconfigure(unitFromText("s.socket", text(3)), "settings")).toBe("applied");
    await h.advance(SEC - 1);
    expect(s.state).toBe("deferred");
    await h.advance(1);
    expect([s.state, s.result]).toEqual(["failed", "timeout"]);
  });

  test("DeferTrigger=yes gives up when a unit stopped, nothing runs and the conflict stays", () => {
    h.service();
    h.conflicts.add("s.service");
    const s = h.socket("ListenStream=%d/a.sock\nDeferTrigger=yes");
    s.start();
    h.ready(s);
    s.unitStopped();
    expect(h.path("s.socket").at(-1)).toBe("deferred>failed");
    expect(s.result).toBe("resources");
  });

  test("DeferTrigger=patient keeps waiting when a unit stopped and the conflict stays", () => {
    h.service();
    h.conflicts.add("s.service");
    const s = h.socket("ListenStream=%d/a.sock\nDeferTrigger=patient");
    s.start();
    h.ready(s);
    s.unitStopped();
    expect(s.state).toBe("deferred");
  });

  test("the service starting or stopping by other means ends the deferral", () => {
    const svc = h.service();
    h.conflicts.add("s.service");
    const s = h.socket("ListenStream=%d/a.sock\nDeferTrigger=patient");
    s.start();
    h.ready(s);
    svc.set("active", "running");
    expect(s.state).toBe("running");
    svc.set("inactive", "dead");
    expect(s.state).toBe("listening");
    h.ready(s);
    expect(s.state).toBe("deferred");
    svc.set("failed", "failed"); // a failed service still conflicts: back to listening
    expect(h.path("s.socket").at(-1)).toBe("deferred>listening");
  });

  test("stop() while deferred closes the socket", () => {
    h.service();
    h.conflicts.add("s.service");
    const s = h.socket("ListenStream=%d/a.sock\nDeferTrigger=yes");
    s.start();
    h.ready(s);
    s.stop();
    expect(h.path("s.socket").at(-1)).toBe("deferred>dead");
  });

  test("DeferTrigger=no starts the service even when it conflicts", () => {
    h.service();
    h.conflicts.add("s.service");
    const s = h.socket("ListenStream=%d/a.sock");
    s.start();
    h.ready(s);
    expect(s.state).toBe("running");
  });
});

describe("start paths into the stop chain", () => {
  test("SocketUser= with ExecStartPost=: start-chown -> start-post", async () => {
    h.service();
    h.users.set("svc", { uid: 0, gid: 0, home: "/", shell: "/bin/sh" });
    h.spawner.behaviour.set("/bin/post", { exit: 0 });
    const s = h.socket("ListenStream=%d/a.sock\nSocketUser=svc\nExecStartPost=/bin/post");
    s.start();
    await h.settle();
    expect(h.states("s.socket")).toEqual(["dead", "start-open", "start-chown", "start-post", "listening"]);
  });

  test("a chown failure runs ExecStopPre=, or ExecStopPost= when there is none", async () => {
    h.service("a.service");
    h.service("b.service");
    h.spawner.behaviour.set("/bin/stop", { exit: 0 });
    const a = h.socket("ListenStream=%d/a.sock\nSocketUser=nobody-here\nExecStopPre=/bin/stop", "a.socket");
    const b = h.socket("ListenStream=%d/b.sock\nSocketUser=nobody-here\nExecStopPost=/bin/stop", "b.socket");
    a.start();
    b.start();
    await h.settle();
    expect(h.states("a.socket")).toEqual(["dead", "start-open", "start-chown", "stop-pre", "failed"]);
    expect(h.states("b.socket")).toEqual(["dead", "start-open", "start-chown", "stop-post", "failed"]);
  });

  test("a port failure runs ExecStopPre=, or ExecStopPost= when there is none", async () => {
    h.service("a.service");
    h.service("b.service");
    writeFileSync(`${h.dir}/file`, "");
    h.spawner.behaviour.set("/bin/stop", { exit: 0 });
    const a = h.socket("ListenStream=%d/file/a.sock\nExecStopPre=/bin/stop", "a.socket");
    const b = h.socket("ListenStream=%d/file/b.sock\nExecStopPost=/bin/stop", "b.socket");
    a.start();
    b.start();
    await h.settle();
    expect(h.states("a.socket")).toEqual(["dead", "start-open", "stop-pre", "failed"]);
    expect(h.states("b.socket")).toEqual(["dead", "start-open", "stop-post", "failed"]);
    expect(a.result).toBe("resources");
  });

  test("a failing ExecStartPost= with only ExecStopPost=: start-post -> stop-post", async () => {
    h.service();
    h.spawner.behaviour.set("/bin/post", { exit: 1 });
    h.spawner.behaviour.set("/bin/stop", { exit: 0 });
    const s = h.socket("ListenStream=%d/a.sock\nExecStartPost=/bin/post\nExecStopPost=/bin/stop");
    s.start();
    await h.settle();
    expect(h.states("s.socket")).toEqual(["dead", "start-open", "start-post", "stop-post", "failed"]);
  });
});

describe("stop", () => {
  test("ExecStopPre= runs with the fds open, ExecStopPost= still gets them, then dead", async () => {
    h.service();
    const s = h.socket("ListenStream=%d/a.sock\nExecStopPre=/bin/stoppre\nExecStopPost=/bin/stoppost\nPassFileDescriptorsToExec=yes");
    s.start();
    const fd = h.fd(s);
    s.stop();
    expect(s.state).toBe("stop-pre");
    expect(s.activeState()).toBe("deactivating");
    expect(h.spawner.last("/bin/stoppre").spec.fds).toContain(fd);
    h.spawner.last("/bin/stoppre").exit(0);
    await h.settle();
    expect(s.state).toBe("stop-post");
    expect(h.spawner.last("/bin/stoppost").spec.fds).toContain(fd);
    expect(s.ports).toEqual([]); // closed once stop-post began
    expect(existsSync(`${h.dir}/a.sock`)).toBe(true); // RemoveOnStop=no
    h.spawner.last("/bin/stoppost").exit(0);
    await h.settle();
    expect(h.states("s.socket")).toEqual(["dead", "start-open", "listening", "stop-pre", "stop-post", "dead"]);
    expect(s.result).toBe("success");
  });

  test("without PassFileDescriptorsToExec= the stop commands get no fds; RemoveOnStop= removes the file", async () => {
    h.service();
    const s = h.socket("ListenStream=%d/a.sock\nExecStopPre=/bin/stoppre\nRemoveOnStop=yes");
    s.start();
    s.stop();
    expect(h.spawner.last("/bin/stoppre").spec.fds).toEqual([]);
    h.spawner.last("/bin/stoppre").exit(0);
    await h.settle();
    expect(h.path("s.socket").at(-1)).toBe("stop-pre>dead");
    expect(existsSync(`${h.dir}/a.sock`)).toBe(false);
  });

  test("a failing ExecStopPre= still runs ExecStopPost=; the result is its exit-code", async () => {
    h.service();
    h.spawner.behaviour.set("/bin/stoppre", { exit: 2 });
    h.spawner.behaviour.set("/bin/stoppost", { exit: 0 });
    const s = h.socket("ListenStream=%d/a.sock\nExecStopPre=/bin/stoppre\nExecStopPost=/bin/stoppost");
    s.start();
    s.stop();
    await h.settle();
    expect(h.spawner.names()).toEqual(["/bin/stoppre", "/bin/stoppost"]);
    expect(h.path("s.socket").slice(-2)).toEqual(["stop-pre>stop-post", "stop-post>failed"]);
    expect(s.result).toBe("exit-code");
  });

  test("a failing ExecStopPre= alone: stop-pre -> failed", async () => {
    h.service();
    h.spawner.behaviour.set("/bin/stoppre", { exit: 2 });
    const s = h.socket("ListenStream=%d/a.sock\nExecStopPre=/bin/stoppre");
    s.start();
    s.stop();
    await h.settle();
    expect(h.path("s.socket").at(-1)).toBe("stop-pre>failed");
  });

  test("ExecStopPre= timing out: stop-pre-sigterm, stop-pre-sigkill, then ExecStopPost= (timeout)", async () => {
    h.service();
    const s = h.socket("ListenStream=%d/a.sock\nExecStopPre=/bin/stoppre\nExecStopPost=/bin/stoppost\nTimeoutSec=2");
    s.start();
    s.stop();
    const pre = h.spawner.last("/bin/stoppre");
    pre.ignores.add(SIGTERM).add(SIGKILL);
    await h.advance(2 * SEC);
    expect(s.state).toBe("stop-pre-sigterm");
    await h.advance(2 * SEC);
    expect(s.state).toBe("stop-pre-sigkill");
    expect(h.killer.to(pre.pid)).toEqual([SIGTERM, SIGKILL]);
    await h.advance(2 * SEC);
    expect(s.state).toBe("stop-post");
    h.spawner.last("/bin/stoppost").exit(0);
    await h.settle();
    expect(h.states("s.socket").slice(3)).toEqual(["stop-pre", "stop-pre-sigterm", "stop-pre-sigkill", "stop-post", "failed"]);
    expect(s.result).toBe("timeout");
  });

  test("ExecStopPre= dying of SIGTERM or SIGKILL goes on to ExecStopPost=, or ends the unit", async () => {
    h.service("a.service");
    h.service("b.service");
    h.service("c.service");
    h.spawner.behaviour.set("/bin/stoppost", { exit: 0 });
    const a = h.socket("ListenStream=%d/a.sock\nExecStopPre=/bin/stoppre-a\nExecStopPost=/bin/stoppost\nTimeoutSec=2", "a.socket");
    const b = h.socket("ListenStream=%d/b.sock\nExecStopPre=/bin/stoppre-b\nTimeoutSec=2", "b.socket");
    const c = h.socket("ListenStream=%d/c.sock\nExecStopPre=/bin/stoppre-c\nTimeoutSec=2", "c.socket");
    for (const s of [a, b, c]) {
      s.start();
      s.stop();
    }
    h.spawner.last("/bin/stoppre-c").ignores.add(SIGTERM);
    await h.advance(4 * SEC);
    await h.settle();
    expect(h.path("a.socket").slice(-3)).toEqual(["stop-pre>stop-pre-sigterm", "stop-pre-sigterm>stop-post", "stop-post>failed"]);
    expect(h.path("b.socket").slice(-2)).toEqual(["stop-pre>stop-pre-sigterm", "stop-pre-sigterm>failed"]);
    expect(h.path("c.socket").slice(-3)).toEqual(["stop-pre>stop-pre-sigterm", "stop-pre-sigterm>stop-pre-sigkill", "stop-pre-sigkill>failed"]);
  });

  test("SendSIGKILL=no: stop-pre-sigterm timing out goes straight on to ExecStopPost= or the end", async () => {
    h.service("a.service");
    h.service("b.service");
    const a = h.socket("ListenStream=%d/a.sock\nExecStopPre=/bin/stoppre-a\nExecStopPost=/bin/stoppost\nTimeoutSec=2\nSendSIGKILL=no", "a.socket");
    const b = h.socket("ListenStream=%d/b.sock\nExecStopPre=/bin/stoppre-b\nTimeoutSec=2\nSendSIGKILL=no", "b.socket");
    for (const s of [a, b]) {
      s.start();
      s.stop();
    }
    h.spawner.last("/bin/stoppre-a").ignores.add(SIGTERM);
    h.spawner.last("/bin/stoppre-b").ignores.add(SIGTERM);
    await h.advance(4 * SEC);
    expect(h.path("a.socket").slice(-2)).toEqual(["stop-pre>stop-pre-sigterm", "stop-pre-sigterm>stop-post"]);
    expect(h.path("b.socket").slice(-2)).toEqual(["stop-pre>stop-pre-sigterm", "stop-pre-sigterm>failed"]);
  });

  test("ExecStopPost= timing out: final-sigterm, then final-sigkill, then failed (timeout)", async () => {
    h.service("a.service");
    h.service("b.service");
    const a = h.socket("ListenStream=%d/a.sock\nExecStopPost=/bin/stoppost-a\nTimeoutSec=3", "a.socket");
    const b = h.socket("ListenStream=%d/b.sock\nExecStopPost=/bin/stoppost-b\nTimeoutSec=3", "b.socket");
    for (const s of [a, b]) {
      s.start();
      s.stop();
    }
    const stuck = h.spawner.last("/bin/stoppost-b");
    stuck.ignores.add(SIGTERM).add(SIGKILL);
    await h.advance(3 * SEC);
    expect(h.states("a.socket").slice(-3)).toEqual(["stop-post", "final-sigterm", "failed"]);
    expect(b.state).toBe("final-sigterm");
    await h.advance(3 * SEC);
    expect(b.state).toBe("final-sigkill");
    await h.advance(3 * SEC);
    expect(h.states("b.socket").slice(-4)).toEqual(["stop-post", "final-sigterm", "final-sigkill", "failed"]);
    // (A second SIGKILL follows when final-sigkill times out: dropControl() kills what is left.)
    expect(h.killer.to(stuck.pid).slice(0, 2)).toEqual([SIGTERM, SIGKILL]);
    expect(b.result).toBe("timeout");
  });

  test("a failing ExecStopPost=: stop-post -> failed (exit-code)", async () => {
    h.service();
    h.spawner.behaviour.set("/bin/stoppost", { exit: 1 });
    const s = h.socket("ListenStream=%d/a.sock\nExecStopPost=/bin/stoppost");
    s.start();
    s.stop();
    await h.settle();
    expect(h.path("s.socket").at(-1)).toBe("stop-post>failed");
    expect(s.result).toBe("exit-code");
  });

  test("stopping from running, deferred and listening, with and without stop commands", async () => {
    const names = ["r1", "r2", "r3", "d1", "d2", "l1"];
    for (const n of names) h.service(`${n}.service`);
    h.spawner.behaviour.set("/bin/stop", { exit: 0 });
    h.conflicts.add("d1.service").add("d2.service");
    const sock = (n: string, extra = "") => h.socket(`ListenStream=%d/${n}.sock\n${extra}`, `${n}.socket`);
    const r1 = sock("r1"),
      r2 = sock("r2", "ExecStopPre=/bin/stop"),
      r3 = sock("r3", "ExecStopPost=/bin/stop");
    const d1 = sock("d1", "DeferTrigger=patient\nExecStopPre=/bin/stop"),
      d2 = sock("d2", "DeferTrigger=patient\nExecStopPost=/bin/stop");
    const l1 = sock("l1", "ExecStopPost=/bin/stop");
    for (const s of [r1, r2, r3, d1, d2, l1]) {
      s.start();
      if (s !== l1) h.ready(s);
    }
    await h.settle();
    for (const s of [r1, r2, r3, d1, d2, l1]) s.stop();
    await h.settle();
    expect(h.path("r1.socket").slice(-1)).toEqual(["running>dead"]);
    expect(h.path("r2.socket").slice(-2)).toEqual(["running>stop-pre", "stop-pre>dead"]);
    expect(h.path("r3.socket").slice(-2)).toEqual(["running>stop-post", "stop-post>dead"]);
    expect(h.path("d1.socket").slice(-2)).toEqual(["deferred>stop-pre", "stop-pre>dead"]);
    expect(h.path("d2.socket").slice(-2)).toEqual(["deferred>stop-post", "stop-post>dead"]);
    expect(h.path("l1.socket").slice(-2)).toEqual(["listening>stop-post", "stop-post>dead"]);
  });

  test("failures from running and deferred: running -> failed, deferred -> stop-post", async () => {
    const svc = h.service();
    h.service("d.service");
    h.conflicts.add("d.service");
    h.spawner.behaviour.set("/bin/stop", { exit: 0 });
    const s = h.socket("ListenStream=%d/a.sock");
    const d = h.socket("ListenStream=%d/d.sock\nDeferTrigger=patient\nDeferTriggerMaxSec=1\nExecStopPost=/bin/stop", "d.socket");
    s.start();
    d.start();
    h.ready(s);
    h.ready(d);
    await h.settle();
    svc.startLimitHit = true;
    svc.set("failed", "failed");
    expect(h.path("s.socket").at(-1)).toBe("running>failed");
    await h.advance(SEC);
    expect(h.path("d.socket").slice(-2)).toEqual(["deferred>stop-post", "stop-post>failed"]);
  });

  test("stop() while deactivating does nothing", async () => {
    h.service();
    const s = h.socket("ListenStream=%d/a.sock\nExecStopPre=/bin/stoppre");
    s.start();
    s.stop();
    s.stop();
    expect(h.spawner.names()).toEqual(["/bin/stoppre"]);
    expect(s.state).toBe("stop-pre");
  });
});

/**
 * Transitions the table allows that no path of socket-unit.ts takes (found by reading it; the
 * test below fails when one of them becomes reachable, or when a reachable one loses its test):
 *   - nothing enters "cleaning" (there is no `clean` operation) and nothing leaves "failed"
 *     for "dead" (no reset-failed);
 *   - final-sigterm/final-sigkill are only entered with a control process still running after a
 *     timeout, so the result is never success there and they never end in "dead";
 *   - start-open and start-chown run synchronously and only go on to the next step, the stop
 *     chain's first step, or its end: no signal states, no "dead" (their result is set);
 *   - start-pre/start-post always have their control process while in that state: stop() goes
 *     to stop-pre-sigterm, a failure or timeout to final-sigterm/failed (start-pre) or stop-pre/
 *     stop-post/failed (start-post); listening/running/deferred leave through stop-pre,
 *     stop-post, dead or failed only;
 *   - stop-pre/stop-post reach a signal state only by their timeout (stop-pre-sigterm,
 *     final-sigterm); stop-pre-sigkill was entered after a timeout, so it never ends in "dead".
 */
const UNREACHABLE = new Set([
  "failed>dead",
  "failed>cleaning",
  "cleaning>dead",
  "cleaning>failed",
  "final-sigterm>dead",
  "final-sigkill>dead",
  "stop-pre-sigkill>dead",
  ...["start-open", "start-chown"].flatMap((s) => ["stop-pre-sigterm", "stop-pre-sigkill", "final-sigterm", "final-sigkill", "dead"].map((t) => `${s}>${t}`)),
  ...["stop-pre", "stop-post", "stop-pre-sigkill", "final-sigkill"].map((t) => `start-pre>${t}`),
  "start-pre>dead",
  ...["stop-pre-sigkill", "final-sigterm", "final-sigkill", "dead"].map((t) => `start-post>${t}`),
  ...["listening", "deferred", "running"].flatMap((s) => ["stop-pre-sigterm", "stop-pre-sigkill", "final-sigterm", "final-sigkill"].map((t) => `${s}>${t}`)),
  "stop-pre>stop-pre-sigkill",
  "stop-pre>final-sigterm",
  "stop-pre>final-sigkill",
  "stop-pre-sigterm>final-sigterm",
  "stop-pre-sigterm>final-sigkill",
  "stop-pre-sigkill>final-sigterm",
  "stop-pre-sigkill>final-sigkill",
  "stop-post>final-sigkill",
]);

test("every reachable row of SOCKET_TRANSITIONS was reached by the tests above", () => {
  const table = Object.entries(SOCKET_TRANSITIONS).flatMap(([from, tos]) => tos.map((to) => `${from}>${to}`));
  for (const u of UNREACHABLE) expect(table).toContain(u);
  const missing = table.filter((t) => !UNREACHABLE.has(t) && !reachedTransitions.has(t));
  const unexpected = [...reachedTransitions].filter((t) => UNREACHABLE.has(t));
  expect({ missing, unexpected }).toEqual({ missing: [], unexpected: [] });
  // Every state but "cleaning" was left at least once.
  const left = new Set([...reachedTransitions].map((t) => t.split(">")[0]));
  expect(Object.keys(SOCKET_TRANSITIONS).filter((s) => !left.has(s))).toEqual(["cleaning"]);
});
