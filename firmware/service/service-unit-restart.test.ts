/**
 * Restart= and the start rate limit on the fake host: which results restart, RestartSec= on the
 * fake clock, RestartPreventExitStatus=/RestartForceExitStatus=, StartLimitBurst= and
 * StartLimitIntervalSec= ending in start-limit-hit, and stopping a scheduled restart.
 */
import { describe, expect, test } from "bun:test";
import { FakeHost, fakeConnection, unitFromText } from "../testing/fake-host.ts";
import { restartDelayUsec } from "./restart-policy.ts";
import { ServiceUnit } from "./service-unit.ts";

function make(service: string, unit = "", h = new FakeHost()) {
  const s = h.add(new ServiceUnit(unitFromText("a.service", `[Unit]\n${unit}\n[Service]\nExecStart=/bin/main\n${service}\n`), h));
  return { h, s, path: () => h.path("a.service") };
}

type End = { exit: number } | { signal: number };

/** Starts the service, ends its main process as told, and reports whether a restart was scheduled. */
async function endsIn(service: string, end: End): Promise<string> {
  const { h, s } = make(service);
  s.start();
  const p = h.spawner.last();
  if ("exit" in end) p.exit(end.exit);
  else p.kill(end.signal);
  await h.settle();
  return s.subState();
}

describe("Restart=", () => {
  test("which endings restart, per mode (systemd.service(5)'s table)", async () => {
    const clean = { exit: 0 },
      code = { exit: 1 },
      sig = { signal: 11 };
    const table: [string, End, string][] = [
      ["no", code, "failed"],
      ["always", clean, "auto-restart"],
      ["always", code, "auto-restart"],
      ["on-success", clean, "auto-restart"],
      ["on-success", code, "failed"],
      ["on-failure", clean, "dead"],
      ["on-failure", code, "auto-restart"],
      ["on-failure", sig, "auto-restart"],
      ["on-abnormal", code, "failed"],
      ["on-abnormal", sig, "auto-restart"],
      ["on-abort", sig, "auto-restart"],
      ["on-abort", code, "failed"],
      ["on-watchdog", sig, "failed"],
    ];
    for (const [mode, end, want] of table) {
      expect(`${mode} ${JSON.stringify(end)}: ${await endsIn(`Restart=${mode}`, end)}`).toBe(`${mode} ${JSON.stringify(end)}: ${want}`);
    }
  });

  test("watchdog and timeout endings: on-abnormal and on-watchdog restart them, on-abort does not", async () => {
    for (const [mode, want] of [
      ["on-abnormal", "auto-restart"],
      ["on-watchdog", "auto-restart"],
      ["on-abort", "failed"],
    ]) {
      const wd = make(`Restart=${mode}\nWatchdogSec=1`);
      wd.s.start();
      await wd.h.advance(1e6);
      expect(`${mode} watchdog: ${wd.s.subState()}`).toBe(`${mode} watchdog: ${want}`);
    }
    for (const [mode, want] of [
      ["on-abnormal", "auto-restart"],
      ["on-watchdog", "failed"],
    ]) {
      const t = make(`Type=notify\nRestart=${mode}\nTimeoutStartSec=1`);
      t.s.start();
      await t.h.advance(1e6);
      expect(`${mode} timeout: ${t.s.subState()}`).toBe(`${mode} timeout: ${want}`);
    }
  });

  test("RestartPreventExitStatus= and RestartForceExitStatus= override the mode", async () => {
    expect(await endsIn("Restart=always\nRestartPreventExitStatus=3", { exit: 3 })).toBe("failed");
    expect(await endsIn("Restart=always\nRestartPreventExitStatus=SIGSEGV", { signal: 11 })).toBe("failed");
    expect(await endsIn("Restart=no\nRestartForceExitStatus=3", { exit: 3 })).toBe("auto-restart");
    expect(await endsIn("Restart=no\nRestartForceExitStatus=SIGUSR2", { signal: 12 })).toBe("auto-restart");
  });

  test("RestartSec= on the clock: auto-restart (activating), then a start job, then running again", async () => {
    const { h, s, path } = make("Restart=on-failure\nRestartSec=2");
    s.start();
    h.spawner.last().exit(1);
    await h.settle();
    expect([s.subState(), s.activeState(), s.result]).toEqual(["auto-restart", "activating", "exit-code"]);
    await h.advance(1_999_999);
    expect(h.startRequests).toEqual([]);
    await h.advance(1);
    expect(h.startRequests).toEqual([{ name: "a.service", reason: "automatic restart" }]);
    expect(s.nRestarts).toBe(1);
    expect(s.subState()).toBe("running");
    expect(s.result).toBe("success");
    expect(h.spawner.spawned).toHaveLength(2);
    expect(path()).toEqual(["dead>start", "start>running", "running>auto-restart", "auto-restart>start", "start>running"]);
  });

  test("a restart job the manager refuses leaves the service failed", async () => {
    const { h, s, path } = make("Restart=always\nRestartSec=1");
    h.acceptStarts = false;
    s.start();
    h.spawner.last().exit(0);
    await h.advance(1e6);
    expect(path().slice(-2)).toEqual(["running>auto-restart", "auto-restart>failed"]);
  });

  test("stop() during auto-restart cancels the restart: dead after success, failed after failure", async () => {
    for (const [code, want] of [
      [0, "dead"],
      [1, "failed"],
    ] as const) {
      const { h, s, path } = make("Restart=always\nRestartSec=5");
      s.start();
      h.spawner.last().exit(code);
      await h.settle();
      s.stop();
      await h.advance(10e6);
      expect(path().slice(-1)).toEqual([`auto-restart>${want}`]);
      expect(h.startRequests).toEqual([]);
      expect(h.clock.pendingTimers()).toBe(0);
    }
  });

  test("start() during auto-restart starts at once and drops the timer", async () => {
    const { h, s } = make("Restart=always\nRestartSec=5");
    s.start();
    h.spawner.last().exit(1);
    await h.settle();
    s.start();
    expect(s.subState()).toBe("running");
    await h.advance(10e6);
    expect(h.startRequests).toEqual([]);
    expect(h.spawner.spawned).toHaveLength(2);
  });

  test("an explicit stop never restarts, even with Restart=always", async () => {
    const { h, s } = make("Restart=always\nRestartSec=1");
    s.start();
    s.stop();
    await h.advance(5e6);
    expect(s.subState()).toBe("dead");
    expect(h.startRequests).toEqual([]);
  });

  test("a start failure (ExecStartPre=) restarts with Restart=on-failure", async () => {
    const { h, s, path } = make("Restart=on-failure\nRestartSec=1\nExecStartPre=/bin/pre");
    h.spawner.behaviour.set("/bin/pre", { exit: 1 });
    s.start();
    await h.settle();
    expect(path()).toEqual(["dead>start-pre", "start-pre>auto-restart"]);
    await h.advance(1e6);
    expect(path().slice(-2)).toEqual(["auto-restart>start-pre", "start-pre>auto-restart"]);
    expect(s.nRestarts).toBe(1);
  });

  test("ExecStart=-...: a failing main process ends the service successfully; Restart=on-failure does not fire", async () => {
    const h = new FakeHost();
    const s = h.add(new ServiceUnit(unitFromText("a.service", "[Service]\nExecStart=-/bin/main\nRestart=on-failure\nRestartSec=1\n"), h));
    s.start();
    h.spawner.last().exit(255);
    await h.advance(5e6);
    expect([s.subState(), s.result]).toEqual(["dead", "success"]);
    expect(s.mainExit).toEqual({ code: 255, signal: null });
    expect(h.spawner.spawned).toHaveLength(1);
    expect(h.messages("a.service")).toContain("Deactivated successfully.");
  });

  test("ExecStart=- of an Accept=yes instance: exit 255 is deactivated successfully", async () => {
    const h = new FakeHost();
    const s = h.add(new ServiceUnit(unitFromText("a@1.service", "[Service]\nExecStart=-/bin/main\nStandardInput=socket\n"), h, fakeConnection()));
    s.start();
    h.spawner.last().exit(255);
    await h.settle();
    expect([s.subState(), s.result]).toEqual(["dead", "success"]);
    expect(h.finished).toEqual(["a@1.service"]);
  });

  // systemd records an ExecCondition= skip (exit 1..254) as its own result and never restarts it
  // (service_shall_restart(): "always" excludes SERVICE_SKIP_CONDITION).
  test("a start skipped by ExecCondition= is not restarted, even with Restart=always", async () => {
    const h = new FakeHost();
    const s = h.add(new ServiceUnit(unitFromText("a.service", "[Service]\nExecCondition=/bin/cond\nExecStart=/bin/main\nRestart=always\nRestartSec=1\n"), h));
    h.spawner.behaviour.set("/bin/cond", { exit: 1 });
    s.start();
    await h.advance(5e6);
    expect(s.subState()).toBe("dead");
    expect(h.spawner.names()).toEqual(["/bin/cond"]);
  });
});

describe("RestartSteps=, RestartMaxDelaySec=, RuntimeMaxSec=", () => {
  // systemd grows the delay from RestartSec= towards RestartMaxDelaySec= in RestartSteps= steps.
  test("RestartSteps= with RestartMaxDelaySec=: the restart delay grows", async () => {
    const { h, s } = make("Restart=always\nRestartSec=1\nRestartSteps=2\nRestartMaxDelaySec=4", "StartLimitIntervalSec=0");
    s.start();
    h.spawner.last().exit(1);
    await h.advance(1e6);
    expect(h.spawner.spawned).toHaveLength(2);
    h.spawner.last().exit(1);
    await h.advance(1e6);
    expect(h.spawner.spawned).toHaveLength(2);
  });

  // systemd stops a service running longer than RuntimeMaxSec= with result timeout.
  test("RuntimeMaxSec=: a service running longer is stopped with result timeout", async () => {
    const { h, s } = make("RuntimeMaxSec=5");
    s.start();
    await h.advance(5e6);
    expect(h.killer.to(h.spawner.last().pid)).toEqual([15]);
    expect([s.subState(), s.result]).toEqual(["failed", "timeout"]);
  });

  test("the restart delay: RestartSec= first, then RestartSec= * (max/RestartSec=)^(n-1)/steps, then the maximum", () => {
    const cfg = unitFromText("a.service", "[Service]\nExecStart=/bin/main\nRestartSec=1\nRestartSteps=3\nRestartMaxDelaySec=8\n").service!;
    expect([1, 2, 3, 4, 5].map((n) => restartDelayUsec(cfg, n))).toEqual([1e6, 2e6, 4e6, 8e6, 8e6]);
    const plain = unitFromText("a.service", "[Service]\nExecStart=/bin/main\nRestartSec=3\n").service!;
    expect(restartDelayUsec(plain, 7)).toBe(3e6);
  });

  test("RuntimeMaxSec= counts from activation: a reload in between does not restart the count", async () => {
    const { h, s } = make("RuntimeMaxSec=5\nExecReload=/bin/reload");
    s.start();
    await h.advance(3e6);
    s.reload(() => {});
    h.spawner.last("/bin/reload").exit(0);
    await h.advance(2e6);
    expect([s.subState(), s.result]).toEqual(["failed", "timeout"]);
    expect(h.messages("a.service")).toContain("Service reached runtime time limit. Stopping.");
  });
});

describe("the start limit", () => {
  test("starts skipped by a Condition*= do not use up the start limit", async () => {
    const { h, s } = make("", "ConditionPathExists=/nonexistent\nStartLimitBurst=2\nStartLimitIntervalSec=60");
    for (let i = 0; i < 5; i++) s.start();
    expect([s.subState(), s.startLimitHit]).toEqual(["dead", false]);
    h.conditionPaths.add("/nonexistent");
    s.start();
    expect(s.subState()).toBe("running");
  });

  test("StartLimitBurst= starts within StartLimitIntervalSec=; the next one fails with start-limit-hit", async () => {
    const { h, s, path } = make("Restart=always\nRestartSec=1", "StartLimitBurst=3\nStartLimitIntervalSec=60");
    s.start();
    for (let i = 0; i < 3; i++) {
      h.spawner.last().exit(1);
      await h.advance(1e6);
    }
    expect(h.spawner.spawned).toHaveLength(3);
    expect([s.subState(), s.result, s.startLimitHit]).toEqual(["failed", "start-limit-hit", true]);
    expect(path().slice(-1)).toEqual(["auto-restart>failed"]);
    expect(h.messages("a.service")).toContain("Start request repeated too quickly.");
    // A failed unit at the limit reports again on the next start (its socket must learn of it).
    const before = h.transitions.length;
    s.start();
    expect(h.transitions.slice(before)).toEqual([{ unit: "a.service", from: "failed", to: "failed", at: h.clock.now() }]);
    // Once the interval has passed the unit starts again.
    await h.advance(60e6);
    s.start();
    expect(s.subState()).toBe("running");
    expect(s.startLimitHit).toBe(false);
  });

  test("start-limit-hit is not restarted, even with Restart=always", async () => {
    const { h, s } = make("Restart=always\nRestartSec=1", "StartLimitBurst=1\nStartLimitIntervalSec=10");
    s.start();
    h.spawner.last().exit(1);
    await h.advance(1e6);
    expect(s.result).toBe("start-limit-hit");
    await h.advance(20e6);
    expect(h.startRequests).toHaveLength(1);
    expect(s.subState()).toBe("failed");
  });

  test("manual starts count too: from dead straight to failed", async () => {
    const { h, s, path } = make("", "StartLimitBurst=2\nStartLimitIntervalSec=10");
    for (let i = 0; i < 2; i++) {
      s.start();
      s.stop();
      await h.settle();
      expect(s.subState()).toBe("dead");
    }
    s.start();
    expect(path().slice(-1)).toEqual(["dead>failed"]);
    expect(s.result).toBe("start-limit-hit");
  });

  test("StartLimitIntervalSec=0 disables the limit", async () => {
    const { h, s } = make("Restart=always\nRestartSec=1", "StartLimitBurst=1\nStartLimitIntervalSec=0");
    s.start();
    for (let i = 0; i < 5; i++) {
      h.spawner.last().exit(1);
      await h.advance(1e6);
    }
    expect(s.subState()).toBe("running");
    expect(s.nRestarts).toBe(5);
  });
});
