/**
 * The service state machine's start paths, driven through ServiceUnit's public API with the
 * fake host: each Type=, the ExecCondition/StartPre/StartPost chains, the spawn specs.
 */
import { describe, expect, test } from "bun:test";
import { FakeHost, fakeConnection, unitFromText } from "../testing/fake-host.ts";
import { ServiceUnit } from "./service-unit.ts";

function make(service: string, unit = "", h = new FakeHost()) {
  const s = h.add(new ServiceUnit(unitFromText("a.service", `[Unit]\n${unit}\n[Service]\n${service}\n`), h));
  return { h, s, path: () => h.path("a.service") };
}

describe("Type=simple", () => {
  test("running at once; a clean exit of the main process ends in dead", async () => {
    const { h, s, path } = make("ExecStart=/bin/daemon -f");
    s.start();
    expect(s.activeState()).toBe("active");
    expect(s.subState()).toBe("running");
    const p = h.spawner.last("/bin/daemon");
    expect(p.spec.argv).toEqual(["/bin/daemon", "-f"]);
    expect(s.mainPid).toBe(p.pid);
    p.exit(0);
    await h.settle();
    expect(path()).toEqual(["dead>start", "start>running", "running>dead"]);
    expect(s.result).toBe("success");
    expect(s.mainPid).toBeNull();
  });

  test("an unclean exit fails with exit-code; a deadly signal with signal; SIGTERM counts as clean", async () => {
    for (const [end, want] of [
      [(p: { exit(c: number): void }) => p.exit(3), "exit-code"],
      [(p: { kill(s: number): void }) => p.kill(11), "signal"],
      [(p: { kill(s: number): void }) => p.kill(15), "success"],
    ] as const) {
      const { h, s } = make("ExecStart=/bin/daemon");
      s.start();
      (end as (p: unknown) => void)(h.spawner.last());
      await h.settle();
      expect(s.result).toBe(want);
      expect(s.subState()).toBe(want === "success" ? "dead" : "failed");
    }
  });

  test("SuccessExitStatus= makes a listed exit code and signal clean", async () => {
    const { h, s } = make("ExecStart=/bin/daemon\nSuccessExitStatus=42 SIGUSR1");
    s.start();
    h.spawner.last().exit(42);
    await h.settle();
    expect([s.subState(), s.result]).toEqual(["dead", "success"]);
    s.start();
    h.spawner.last().kill(10);
    await h.settle();
    expect([s.subState(), s.result]).toEqual(["dead", "success"]);
    s.start();
    h.spawner.last().exit(43);
    await h.settle();
    expect([s.subState(), s.result]).toEqual(["failed", "exit-code"]);
  });

  test("RemainAfterExit=yes: a clean exit leaves the service exited (active); stop ends it", async () => {
    const { h, s, path } = make("ExecStart=/bin/daemon\nRemainAfterExit=yes");
    s.start();
    h.spawner.last().exit(0);
    await h.settle();
    expect([s.activeState(), s.subState()]).toEqual(["active", "exited"]);
    s.stop();
    await h.settle();
    expect(path()).toEqual(["dead>start", "start>running", "running>exited", "exited>dead"]);
  });

  test("RemainAfterExit=yes keeps only a clean exit: a failing main process fails the service", async () => {
    const { h, s } = make("ExecStart=/bin/daemon\nRemainAfterExit=yes");
    s.start();
    h.spawner.last().exit(2);
    await h.settle();
    expect([s.subState(), s.result]).toEqual(["failed", "exit-code"]);
  });

  test("the spawn spec: environment, socket fds and names, NOTIFY_SOCKET only where notifications are accepted", () => {
    const { h, s } = make("ExecStart=/bin/daemon $FOO\nEnvironment=FOO=bar");
    h.serviceFds.set("a.service", [
      { fd: 7, name: "web" },
      { fd: 8, name: "admin" },
    ]);
    h.serviceEnv.set("a.service", { USB_FUNCTION_STATE: "ready" });
    s.start();
    const spec = h.spawner.last().spec;
    expect(spec.argv).toEqual(["/bin/daemon", "bar"]);
    expect(spec.fds).toEqual([7, 8]);
    expect(spec.env.LISTEN_FDS).toBe("2");
    expect(spec.env.LISTEN_FDNAMES).toBe("web:admin");
    expect(spec.env.USB_FUNCTION_STATE).toBe("ready");
    expect(spec.env.INVOCATION_ID).toMatch(/^[0-9a-f]{32}$/);
    expect(spec.env.NOTIFY_SOCKET).toBeUndefined();
    expect(spec.execStatus).toBeFalsy();
    const n = make("Type=notify\nExecStart=/bin/daemon");
    n.s.start();
    expect(n.h.spawner.last().spec.env.NOTIFY_SOCKET).toBe("/run/bunit/notify");
    expect(spec.env.FDSTORE).toBeUndefined();
  });

  test("$FDSTORE says the size of the file descriptor store when there is one (systemd >= 254)", () => {
    const { h, s } = make("ExecStart=/bin/daemon\nFileDescriptorStoreMax=64\nExecStartPre=/bin/true");
    s.start();
    expect(h.spawner.last().spec.env.FDSTORE).toBe("64");
  });

  test("User= resolves through the lookups; an unknown user fails the start with resources", async () => {
    const { h, s } = make("ExecStart=/bin/daemon\nUser=svc");
    h.users.set("svc", { uid: 100, gid: 200, home: "/home/svc", shell: "/bin/sh" });
    s.start();
    expect(h.spawner.last().spec.credentials).toMatchObject({ uid: 100, gid: 200, user: "svc" });
    expect(h.spawner.last().spec.env.HOME).toBe("/home/svc");
    const bad = make("ExecStart=/bin/daemon\nUser=nobody-here");
    bad.s.start();
    await bad.h.settle();
    expect(bad.h.spawner.spawned).toHaveLength(0);
    expect([bad.s.subState(), bad.s.result]).toEqual(["failed", "resources"]);
  });

  test("a spawn that throws fails the start with resources", async () => {
    const { h, s, path } = make("ExecStart=/bin/daemon");
    h.spawner.behaviour.set("/bin/daemon", { throws: "EAGAIN" });
    s.start();
    await h.settle();
    expect(path()).toEqual(["dead>start", "start>failed"]);
    expect(s.result).toBe("resources");
  });
});

describe("Type=exec", () => {
  test("stays in start until execve() succeeded, then running", async () => {
    const { h, s } = make("Type=exec\nExecStart=/bin/daemon");
    h.spawner.autoExec = false;
    s.start();
    const p = h.spawner.last();
    expect(p.spec.execStatus).toBe(true);
    await h.settle();
    expect(s.subState()).toBe("start");
    p.execDone(null);
    await h.settle();
    expect(s.subState()).toBe("running");
  });

  test("a failed exec: the helper's exit status fails the service", async () => {
    const { h, s, path } = make("Type=exec\nExecStart=/bin/missing");
    h.spawner.autoExec = false;
    s.start();
    const p = h.spawner.last();
    p.execDone(203);
    p.exit(203);
    await h.settle();
    expect(path()).toEqual(["dead>start", "start>failed"]);
    expect(s.result).toBe("exit-code");
  });

  test("exec never reported: TimeoutStartSec= ends the start", async () => {
    const { h, s } = make("Type=exec\nExecStart=/bin/daemon\nTimeoutStartSec=5");
    h.spawner.autoExec = false;
    s.start();
    await h.advance(5e6);
    expect(h.killer.to(h.spawner.last().pid)).toEqual([15]);
    expect([s.subState(), s.result]).toEqual(["failed", "timeout"]);
  });
});

describe("Type=oneshot", () => {
  test("ExecStart= commands run one after another, then the service is dead (or exited with RemainAfterExit=)", async () => {
    for (const remain of [false, true]) {
      const { h, s, path } = make(`Type=oneshot\nExecStart=/bin/one\nExecStart=/bin/two\nRemainAfterExit=${remain}`);
      h.spawner.behaviour.set("/bin/one", { exit: 0 });
      s.start();
      expect(s.activeState()).toBe("activating");
      await h.settle();
      expect(h.spawner.names()).toEqual(["/bin/one", "/bin/two"]);
      expect(s.subState()).toBe("start");
      h.spawner.last().exit(0);
      await h.settle();
      expect(path()).toEqual(remain ? ["dead>start", "start>exited"] : ["dead>start", "start>dead"]);
    }
  });

  test("a failing command ends the chain with exit-code; '-' ignores its failure", async () => {
    const { h, s } = make("Type=oneshot\nExecStart=/bin/one\nExecStart=/bin/two");
    h.spawner.behaviour.set("/bin/one", { exit: 1 });
    s.start();
    await h.settle();
    expect(h.spawner.names()).toEqual(["/bin/one"]);
    expect([s.subState(), s.result]).toEqual(["failed", "exit-code"]);
    const ign = make("Type=oneshot\nExecStart=-/bin/one\nExecStart=/bin/two");
    ign.h.spawner.behaviour.set("/bin/one", { exit: 1 });
    ign.h.spawner.behaviour.set("/bin/two", { exit: 0 });
    ign.s.start();
    await ign.h.settle();
    expect(ign.h.spawner.names()).toEqual(["/bin/one", "/bin/two"]);
    expect([ign.s.subState(), ign.s.result]).toEqual(["dead", "success"]);
  });

  test("without ExecStart= (RemainAfterExit=yes) it is exited at once, and ExecStop= runs at stop", async () => {
    const { h, s, path } = make("Type=oneshot\nRemainAfterExit=yes\nExecStop=/bin/down");
    s.start();
    expect(s.subState()).toBe("exited");
    s.stop();
    expect(s.subState()).toBe("stop");
    h.spawner.last("/bin/down").exit(0);
    await h.settle();
    expect(path()).toEqual(["dead>start", "start>exited", "exited>stop", "stop>dead"]);
  });

  test("TimeoutStartSec= kills a oneshot that does not finish", async () => {
    const { h, s } = make("Type=oneshot\nExecStart=/bin/slow\nTimeoutStartSec=2");
    s.start();
    await h.advance(2e6);
    expect(h.killer.sent).toEqual([{ pid: h.spawner.last().pid, signal: 15, group: true }]);
    expect([s.subState(), s.result]).toEqual(["failed", "timeout"]);
  });
});

describe("Type=notify", () => {
  test("start until READY=1 from the main process, then running", async () => {
    const { h, s, path } = make("Type=notify\nExecStart=/bin/daemon");
    s.start();
    const p = h.spawner.last();
    await h.advance(1e6);
    expect(s.subState()).toBe("start");
    s.notify(p.pid + 1, "READY=1", []);
    expect(s.subState()).toBe("start");
    expect(h.messages("a.service").some((m) => m.includes("notification message from PID"))).toBe(true);
    s.notify(p.pid, "READY=1\nSTATUS=serving", []);
    expect(s.subState()).toBe("running");
    expect(s.statusText).toBe("serving");
    expect(path()).toEqual(["dead>start", "start>running"]);
  });

  test("the main process exiting before READY=1 is a protocol failure", async () => {
    const { h, s } = make("Type=notify\nExecStart=/bin/daemon");
    s.start();
    h.spawner.last().exit(0);
    await h.settle();
    expect([s.subState(), s.result]).toEqual(["failed", "protocol"]);
  });

  test("no READY=1 within TimeoutStartSec=: SIGTERM, then dead with result timeout", async () => {
    const { h, s, path } = make("Type=notify\nExecStart=/bin/daemon\nTimeoutStartSec=3");
    s.start();
    await h.advance(2_999_999);
    expect(h.killer.sent).toEqual([]);
    await h.advance(1);
    expect(h.killer.to(h.spawner.last().pid)).toEqual([15]);
    expect(path()).toEqual(["dead>start", "start>stop-sigterm", "stop-sigterm>failed"]);
    expect(s.result).toBe("timeout");
  });

  test("EXTEND_TIMEOUT_USEC= moves the start timeout later", async () => {
    const { h, s } = make("Type=notify\nExecStart=/bin/daemon\nTimeoutStartSec=3");
    s.start();
    const p = h.spawner.last();
    await h.advance(2e6);
    s.notify(p.pid, "EXTEND_TIMEOUT_USEC=5000000", []);
    await h.advance(4e6);
    expect(s.subState()).toBe("start");
    await h.advance(1e6);
    expect(s.result).toBe("timeout");
  });

  test("Type=notify-reload waits for READY=1 like Type=notify", async () => {
    // Bug: ServiceUnit.type keeps "notify-reload", which every `type === "notify"` check misses:
    // the service counts as running at once and gets no NOTIFY_SOCKET (notifyAccess "none").
    const { h, s } = make("Type=notify-reload\nExecStart=/bin/daemon");
    s.start();
    expect(h.spawner.last().spec.env.NOTIFY_SOCKET).toBe("/run/bunit/notify");
    expect(s.subState()).toBe("start");
  });
});

describe("Type=forking", () => {
  test("the started process exits cleanly; with one orphan left it becomes the main PID, whose exit ends the service", async () => {
    const { h, s, path } = make("Type=forking\nExecStart=/bin/forker\nExecStartPost=/bin/post $MAINPID");
    h.spawner.behaviour.set("/bin/post", { exit: 0 });
    const daemon = h.spawner.external("daemon");
    h.orphans = [daemon.pid];
    s.start();
    expect(s.subState()).toBe("start");
    h.spawner.last("/bin/forker").exit(0);
    await h.settle();
    expect(s.mainPid).toBe(daemon.pid);
    expect(h.processes.asked).toEqual([daemon.pid]);
    expect(h.spawner.last("/bin/post").spec.argv).toEqual(["/bin/post", String(daemon.pid)]);
    expect(s.subState()).toBe("running");
    s.stop();
    expect(h.killer.to(daemon.pid)).toEqual([15]);
    await h.settle();
    expect(path()).toEqual(["dead>start", "start>start-post", "start-post>running", "running>stop-sigterm", "stop-sigterm>dead"]);
  });

  test("a guessed main PID that is already gone: the service ends at once", async () => {
    const { h, s, path } = make("Type=forking\nExecStart=/bin/forker");
    // A pid no process can have (above the kernel's PID_MAX_LIMIT).
    h.orphans = [5_000_000];
    s.start();
    h.spawner.last().exit(0);
    await h.settle();
    expect(h.messages("a.service")).toContain("Main PID of forking service: 5000000");
    expect(path()).toEqual(["dead>start", "start>running", "running>dead"]);
  });

  test("with a cgroup the main PID is guessed among the cgroup's processes, not the daemon's orphans", async () => {
    const h = new FakeHost();
    const cg = h.useCgroups();
    const { s } = make("Type=forking\nExecStart=/bin/forker", "", h);
    h.orphans = [h.spawner.external("stranger").pid];
    s.start();
    expect(h.spawner.last().spec.cgroup).toBe(cg.unitPath("a.service"));
    const daemon = h.spawner.external("daemon");
    cg.join(cg.unitPath("a.service"), daemon);
    h.spawner.last("/bin/forker").exit(0);
    await h.settle();
    expect(s.mainPid).toBe(daemon.pid);
  });

  test("no main PID could be guessed: supervised without one, so it stops (nothing keeps it running)", async () => {
    const { h, s, path } = make("Type=forking\nExecStart=/bin/forker");
    h.orphans = [5_000_001, 5_000_002];
    s.start();
    h.spawner.last().exit(0);
    await h.settle();
    expect(h.messages("a.service")).toContain("Supervising process without a main PID (none could be determined).");
    expect(path()).toEqual(["dead>start", "start>dead"]);
  });

  test("no main PID but processes left in its cgroup: running until the cgroup is empty (systemd's cgroup_good())", async () => {
    const h = new FakeHost();
    const cg = h.useCgroups();
    const { s, path } = make("Type=forking\nExecStart=/bin/forker", "", h);
    s.start();
    const a = h.spawner.external("a"),
      b = h.spawner.external("b");
    for (const p of [a, b]) cg.join(cg.unitPath("a.service"), p);
    h.spawner.last("/bin/forker").exit(0);
    await h.settle();
    expect([s.subState(), s.mainPid]).toEqual(["running", null]);
    a.exit(0);
    await h.advance(1e6);
    expect(s.subState()).toBe("running");
    b.exit(0);
    await h.advance(1e6);
    expect(path().slice(-2)).toEqual(["start>running", "running>dead"]);
  });

  test("RemainAfterExit=yes keeps a forking service without main PID exited", async () => {
    const { h, s } = make("Type=forking\nExecStart=/bin/forker\nGuessMainPID=no\nRemainAfterExit=yes");
    h.orphans = [5_000_000];
    s.start();
    h.spawner.last().exit(0);
    await h.settle();
    expect(s.subState()).toBe("exited");
  });

  test("an unclean exit of the started process fails the start", async () => {
    const { h, s } = make("Type=forking\nExecStart=/bin/forker");
    s.start();
    h.spawner.last().exit(1);
    await h.settle();
    expect([s.subState(), s.result]).toEqual(["failed", "exit-code"]);
  });

  // Issue 15 (systemd's service_load_pid_file()): a PID file naming a process outside the service
  // is believed only when root owns it and no symlink led there.
  test("PIDFile= trust: a process outside the service only from a root-owned file, never through a link", async () => {
    const run = async (file: { uid: number; viaLink: boolean }, inService: boolean) => {
      const h = new FakeHost();
      const { s } = make("Type=forking\nExecStart=/bin/forker\nPIDFile=/run/a.pid", "", h);
      const daemon = h.spawner.external("daemon");
      if (inService) h.orphans = [daemon.pid];
      h.pidFileContents.set("/run/a.pid", { text: `${daemon.pid}\n`, ...file });
      s.start();
      h.spawner.last("/bin/forker").exit(0);
      await h.settle();
      return [s.subState(), s.mainPid === daemon.pid, s.result];
    };
    expect(await run({ uid: 1000, viaLink: false }, true)).toEqual(["running", true, "success"]);
    expect(await run({ uid: 1000, viaLink: false }, false)).toEqual(["failed", false, "protocol"]);
    expect(await run({ uid: 0, viaLink: false }, false)).toEqual(["running", true, "success"]);
    expect(await run({ uid: 0, viaLink: true }, false)).toEqual(["failed", false, "protocol"]);
  });

  test("PIDFile= naming the daemon itself is refused", async () => {
    const h = new FakeHost();
    const { s } = make("Type=forking\nExecStart=/bin/forker\nPIDFile=/run/a.pid", "", h);
    h.pidFileContents.set("/run/a.pid", { text: String(h.probe.self), uid: 0, viaLink: false });
    s.start();
    h.spawner.last("/bin/forker").exit(0);
    await h.settle();
    expect([s.subState(), s.result]).toEqual(["failed", "protocol"]);
    expect(h.messages("a.service")).toContain(`New main PID ${h.probe.self} is the manager itself, refusing.`);
  });

  test("PIDFile= not yet written: looked at again until it appears or the start times out", async () => {
    const { h, s } = make("Type=forking\nExecStart=/bin/forker\nPIDFile=/nonexistent/bunit-test/a.pid\nTimeoutStartSec=1");
    s.start();
    h.spawner.last().exit(0);
    await h.advance(500_000);
    expect(s.subState()).toBe("start");
    await h.advance(500_000);
    expect([s.subState(), s.result]).toEqual(["failed", "timeout"]);
  });
});

describe("start chains", () => {
  test("ExecCondition=, ExecStartPre=, ExecStart=, ExecStartPost= in order, each with its state", async () => {
    const { h, s, path } = make("ExecCondition=/bin/cond\nExecStartPre=/bin/pre1\nExecStartPre=/bin/pre2\nExecStart=/bin/main\nExecStartPost=/bin/post");
    for (const p of ["/bin/cond", "/bin/pre1", "/bin/pre2", "/bin/post"]) h.spawner.behaviour.set(p, { exit: 0 });
    s.start();
    await h.settle();
    expect(h.spawner.names()).toEqual(["/bin/cond", "/bin/pre1", "/bin/pre2", "/bin/main", "/bin/post"]);
    expect(path()).toEqual(["dead>condition", "condition>start-pre", "start-pre>start", "start>start-post", "start-post>running"]);
    // Control processes learn the main PID once there is one.
    expect(h.spawner.last("/bin/post").spec.env.MAINPID).toBe(String(s.mainPid));
    expect(h.spawner.last("/bin/pre1").spec.env.MAINPID).toBeUndefined();
  });

  test("ExecCondition= exiting 1..254 skips the start (dead, result exec-condition); 255 or a signal fails it", async () => {
    const skip = make("ExecCondition=/bin/cond\nExecStart=/bin/main");
    skip.h.spawner.behaviour.set("/bin/cond", { exit: 1 });
    skip.s.start();
    await skip.h.settle();
    expect(skip.path()).toEqual(["dead>condition", "condition>dead"]);
    expect(skip.s.result).toBe("exec-condition");
    expect(skip.h.messages("a.service")).toContain("Skipped due to 'exec-condition'.");
    const fail = make("ExecCondition=/bin/cond\nExecStart=/bin/main");
    fail.h.spawner.behaviour.set("/bin/cond", { exit: 255 });
    fail.s.start();
    await fail.h.settle();
    expect([fail.s.subState(), fail.s.result]).toEqual(["failed", "exit-code"]);
  });

  test("Accept=yes with StandardOutput=socket: ExecStartPre= writes to the connection too; without socket stdio it does not get it", () => {
    const h = new FakeHost();
    const s = h.add(
      new ServiceUnit(unitFromText("a@1.service", "[Service]\nExecStartPre=/bin/pre\nExecStart=/bin/main\nStandardOutput=socket\n"), h, fakeConnection(99)),
    );
    s.start();
    expect(h.spawner.last("/bin/pre").spec.stdout).toEqual({ kind: "fd", fd: 99 });
    const h2 = new FakeHost();
    const plain = h2.add(new ServiceUnit(unitFromText("a@2.service", "[Service]\nExecStartPre=/bin/pre\nExecStart=/bin/main\n"), h2, fakeConnection(98)));
    plain.start();
    expect(h2.spawner.last("/bin/pre").spec.stdout).not.toEqual({ kind: "fd", fd: 98 });
  });

  test("a failing ExecStartPre= stops the start before ExecStart=; '-' ignores the failure", async () => {
    const { h, s, path } = make("ExecStartPre=/bin/pre\nExecStart=/bin/main\nExecStopPost=/bin/cleanup");
    h.spawner.behaviour.set("/bin/pre", { exit: 2 });
    h.spawner.behaviour.set("/bin/cleanup", { exit: 0 });
    s.start();
    await h.settle();
    expect(h.spawner.names()).toEqual(["/bin/pre", "/bin/cleanup"]);
    expect(path()).toEqual(["dead>start-pre", "start-pre>stop-post", "stop-post>failed"]);
    const ign = make("ExecStartPre=-/bin/pre\nExecStart=/bin/main");
    ign.h.spawner.behaviour.set("/bin/pre", { exit: 2 });
    ign.s.start();
    await ign.h.settle();
    expect(ign.s.subState()).toBe("running");
  });

  // Bug: SERVICE_RESULT= reaches ExecStop=/ExecStopPost= only once a main process has exited
  // (runChain sets it inside `if (this.mainExit)`); systemd passes it to both always.
  test("ExecStopPost= learns SERVICE_RESULT= even when no main process ran", async () => {
    const { h, s } = make("ExecStartPre=/bin/pre\nExecStart=/bin/main\nExecStopPost=/bin/cleanup");
    h.spawner.behaviour.set("/bin/pre", { exit: 2 });
    s.start();
    await h.settle();
    expect(h.spawner.last("/bin/cleanup").spec.env.SERVICE_RESULT).toBe("exit-code");
  });

  test("a failing ExecStartPost= stops the running main process through ExecStop=", async () => {
    const { h, s, path } = make("ExecStart=/bin/main\nExecStartPost=/bin/post\nExecStop=/bin/down");
    h.spawner.behaviour.set("/bin/post", { exit: 1 });
    h.spawner.behaviour.set("/bin/down", { exit: 0 });
    s.start();
    await h.settle();
    expect(h.killer.to(h.spawner.last("/bin/main").pid)).toEqual([15]);
    expect(path()).toEqual(["dead>start", "start>start-post", "start-post>stop", "stop>stop-sigterm", "stop-sigterm>failed"]);
    expect(s.result).toBe("exit-code");
  });

  test("ExecStartPost= timing out stops the service with result timeout", async () => {
    const { h, s } = make("ExecStart=/bin/main\nExecStartPost=/bin/post\nTimeoutStartSec=1");
    s.start();
    await h.advance(1e6);
    expect([s.subState(), s.result]).toEqual(["failed", "timeout"]);
    expect(h.spawner.running()).toHaveLength(0);
  });

  test("ConditionPathExists= false: skipped without a state change; AssertPathExists= false: failed", async () => {
    const { h, s } = make("ExecStart=/bin/main", "ConditionPathExists=/etc/wanted");
    s.start();
    expect(s.subState()).toBe("dead");
    expect(h.transitions).toEqual([{ unit: "a.service", from: "dead", to: "dead", at: 0 }]);
    h.conditionPaths.add("/etc/wanted");
    s.start();
    expect(s.subState()).toBe("running");
    const a = make("ExecStart=/bin/main", "AssertPathExists=/etc/wanted");
    a.s.start();
    expect([a.s.subState(), a.s.result]).toEqual(["failed", "resources"]);
    expect(a.h.spawner.spawned).toHaveLength(0);
  });

  test("start() while starting or running does nothing", () => {
    const { h, s } = make("ExecStart=/bin/main");
    s.start();
    s.start();
    expect(h.spawner.spawned).toHaveLength(1);
  });
});
