/**
 * Every row of SERVICE_TRANSITIONS that a code path can take, each reached by a short story on
 * the fake host; the last test checks the table against what the stories reached and against
 * the rows listed as unreachable (with why). Behaviour is checked in detail by the other
 * service-unit*.test.ts files; these stories only drive the state machine there.
 */
import { describe, expect, test } from "bun:test";
import { FakeHost, unitFromText, type FakeProcess } from "../testing/fake-host.ts";
import { ServiceUnit } from "./service-unit.ts";
import { SERVICE_TRANSITIONS } from "./service-state.ts";

/** "from>to" of every transition any story made. */
const reached = new Set<string>();

interface Story {
  h: FakeHost;
  s: ServiceUnit;
  main: () => FakeProcess;
  last: (name: string) => FakeProcess;
  settle: () => Promise<void>;
  advance: (usec: number) => Promise<void>;
}

/** Runs one story on a fresh host; its transitions are collected, and the ones it names must be among them. */
async function story(
  service: string,
  drive: (x: Story) => unknown,
  expected: string[],
  opts: { unit?: string; setup?: (h: FakeHost) => void } = {},
): Promise<void> {
  const h = new FakeHost();
  opts.setup?.(h);
  const s = h.add(new ServiceUnit(unitFromText("a.service", `[Unit]\n${opts.unit ?? ""}\n[Service]\n${service}\n`), h));
  await drive({
    h,
    s,
    main: () => h.spawner.last("/bin/main"),
    last: (name) => h.spawner.last(name),
    settle: () => h.settle(),
    advance: (usec) => h.advance(usec),
  });
  await h.settle();
  const made = h.transitions.filter((t) => t.from !== t.to).map((t) => `${t.from}>${t.to}`);
  for (const t of made) reached.add(t);
  for (const t of expected) expect(made).toContain(t);
}

const exits = (h: FakeHost, code: number, ...names: string[]) => names.forEach((n) => h.spawner.behaviour.set(n, { exit: code }));

/**
 * The seven ways out of a notify reload state (`state`, entered by `enter` on a service of
 * `service`): a stop, the watchdog, STOPPING=1, and the main process's exit with each outcome.
 */
async function waysOutOfReload(state: string, service: string, enter: (x: Story) => Promise<void>): Promise<void> {
  await story(`${service}\nExecStop=/bin/stop`, async (x) => (await enter(x), x.s.stop()), [`${state}>stop`]);
  await story(`${service}\nWatchdogSec=5\nTimeoutStartSec=60`, async (x) => (await enter(x), x.advance(5e6)), [`${state}>stop-watchdog`]);
  await story(service, async (x) => (await enter(x), x.s.notify(x.main().pid, "STOPPING=1", [])), [`${state}>stop-sigterm`]);
  await story(`${service}\nExecStopPost=/bin/post`, async (x) => (await enter(x), x.main().exit(0)), [`${state}>stop-post`]);
  await story(service, async (x) => (await enter(x), x.main().exit(0)), [`${state}>dead`]);
  await story(service, async (x) => (await enter(x), x.main().exit(1)), [`${state}>failed`]);
  await story(`${service}\nRestart=always`, async (x) => (await enter(x), x.main().exit(0)), [`${state}>auto-restart`]);
}

describe("from dead, failed and auto-restart", () => {
  test("the first step of a start, by what the unit has", async () => {
    await story("ExecStart=/bin/main", ({ s }) => s.start(), ["dead>start"]);
    await story("ExecStartPre=/bin/pre\nExecStart=/bin/main", ({ s }) => s.start(), ["dead>start-pre"]);
    await story("ExecCondition=/bin/cond\nExecStart=/bin/main", ({ s }) => s.start(), ["dead>condition"]);
    await story("ExecStart=/bin/main", ({ s }) => s.start(), ["dead>failed"], { unit: "AssertPathExists=/nothing" });
  });

  test("starting again from failed, and a skipped start of a failed unit", async () => {
    const firsts: [string, string][] = [
      ["ExecStart=/bin/main", "start"],
      ["ExecStartPre=/bin/pre\nExecStart=/bin/main", "start-pre"],
      ["ExecCondition=/bin/cond\nExecStart=/bin/main", "condition"],
    ];
    for (const [cfg, to] of firsts) {
      await story(
        cfg,
        async ({ s, h }) => {
          s.start();
          h.spawner.spawned.at(-1)!.exit(255);
          await h.settle();
          expect(s.subState()).toBe("failed");
          s.start();
        },
        ["failed>" + to],
      );
    }
    await story(
      "ExecStart=/bin/main",
      async ({ s, h, main }) => {
        s.start();
        main().exit(1);
        await h.settle();
        h.conditionPaths.delete("/ok");
        s.start();
      },
      ["running>failed", "failed>dead"],
      { unit: "ConditionPathExists=/ok", setup: (h) => h.conditionPaths.add("/ok") },
    );
  });

  test("auto-restart: the restart's first step, a stop while waiting, a refused restart job", async () => {
    const firsts: [string, string][] = [
      ["ExecStart=/bin/main", "start"],
      ["ExecStartPre=/bin/pre\nExecStart=/bin/main", "start-pre"],
      ["ExecCondition=/bin/cond\nExecStart=/bin/main", "condition"],
    ];
    for (const [cfg, to] of firsts) {
      await story(
        `${cfg}\nRestart=always\nRestartSec=1`,
        async ({ s, h }) => {
          exits(h, 0, "/bin/pre", "/bin/cond");
          s.start();
          await h.settle();
          h.spawner.last("/bin/main").exit(1);
          await h.advance(1e6);
        },
        ["running>auto-restart", "auto-restart>" + to],
      );
    }
    await story(
      "ExecStart=/bin/main\nRestart=always\nRestartSec=1",
      async ({ s, h, main }) => {
        s.start();
        main().exit(0);
        await h.settle();
        s.stop();
      },
      ["auto-restart>dead"],
    );
    await story(
      "ExecStart=/bin/main\nRestart=always\nRestartSec=1",
      async ({ s, h, main }) => {
        h.acceptStarts = false;
        s.start();
        main().exit(0);
        await h.advance(1e6);
      },
      ["auto-restart>failed"],
    );
    await story(
      "ExecStart=/bin/main\nRestart=always\nRestartSec=1",
      async ({ s, h, main }) => {
        s.start();
        main().exit(1);
        await h.advance(1e6);
      },
      ["auto-restart>failed"],
      { unit: "StartLimitBurst=1" },
    );
  });

  test("daemon-reexec: a service carried over reports dead -> running or exited", async () => {
    const kept: [string, string][] = [
      ["ExecStart=/bin/main", "running"],
      ["Type=oneshot\nRemainAfterExit=yes", "exited"],
    ];
    for (const [cfg, to] of kept) {
      await story(
        cfg,
        async ({ s, h }) => {
          s.start();
          const data = s.serialize()!.data;
          const next = new ServiceUnit(s.config, h);
          next.deserialize(data);
          expect(next.subState() as string).toBe(to);
        },
        ["dead>" + to],
      );
    }
  });
});

describe("while starting", () => {
  test("condition", async () => {
    await story("ExecCondition=/bin/cond\nExecStartPre=/bin/pre\nExecStart=/bin/main", ({ s, h }) => (exits(h, 0, "/bin/cond"), s.start()), [
      "condition>start-pre",
    ]);
    await story("ExecCondition=/bin/cond\nExecStart=/bin/main", ({ s, h }) => (exits(h, 0, "/bin/cond"), s.start()), ["condition>start"]);
    await story("ExecCondition=/bin/cond\nExecStart=/bin/main", ({ s, h }) => (exits(h, 1, "/bin/cond"), s.start()), ["condition>dead"]);
    await story("ExecCondition=/bin/cond\nExecStart=/bin/main", ({ s, h }) => (exits(h, 255, "/bin/cond"), s.start()), ["condition>failed"]);
    await story(
      "ExecCondition=/bin/cond\nExecStart=/bin/main\nExecStopPost=/bin/post",
      ({ s, h }) => (exits(h, 255, "/bin/cond"), exits(h, 0, "/bin/post"), s.start()),
      ["condition>stop-post", "stop-post>failed"],
    );
    await story("ExecCondition=/bin/cond\nExecStart=/bin/main\nRestart=always", ({ s, h }) => (exits(h, 255, "/bin/cond"), s.start()), [
      "condition>auto-restart",
    ]);
    await story("ExecCondition=/bin/cond\nExecStart=/bin/main", ({ s }) => (s.start(), s.stop()), ["condition>stop-sigterm", "stop-sigterm>dead"]);
    // WATCHDOG=trigger from the control process (NotifyAccess=exec) with no main process: ExecStop= runs.
    await story(
      "ExecCondition=/bin/cond\nExecStart=/bin/main\nNotifyAccess=exec\nExecStop=/bin/stop",
      ({ s, h }) => {
        exits(h, 0, "/bin/stop");
        s.start();
        s.notify(h.spawner.last("/bin/cond").pid, "WATCHDOG=trigger", []);
      },
      ["condition>stop", "stop>failed"],
    );
  });

  test("start-pre", async () => {
    const pre = "ExecStartPre=/bin/pre\nExecStart=/bin/main";
    await story(pre, ({ s, h }) => (exits(h, 0, "/bin/pre"), s.start()), ["start-pre>start"]);
    await story(pre, ({ s, h }) => (exits(h, 1, "/bin/pre"), s.start()), ["start-pre>failed"]);
    await story(`${pre}\nExecStopPost=/bin/post`, ({ s, h }) => (exits(h, 1, "/bin/pre"), s.start()), ["start-pre>stop-post"]);
    await story(`${pre}\nRestart=on-failure`, ({ s, h }) => (exits(h, 1, "/bin/pre"), s.start()), ["start-pre>auto-restart"]);
    await story(pre, ({ s }) => (s.start(), s.stop()), ["start-pre>stop-sigterm"]);
    await story(`${pre}\nKillMode=none`, ({ s }) => (s.start(), s.stop()), ["start-pre>dead"]);
    await story(`${pre}\nNotifyAccess=exec\nExecStop=/bin/stop`, ({ s, h }) => (s.start(), s.notify(h.spawner.last("/bin/pre").pid, "WATCHDOG=trigger", [])), [
      "start-pre>stop",
    ]);
  });

  test("start", async () => {
    await story("Type=oneshot\nExecStart=/bin/main", ({ s, h }) => (exits(h, 0, "/bin/main"), s.start()), ["start>dead"]);
    await story("Type=oneshot\nRemainAfterExit=yes\nExecStart=/bin/main", ({ s, h }) => (exits(h, 0, "/bin/main"), s.start()), ["start>exited"]);
    await story("Type=oneshot\nExecStart=/bin/main\nExecStop=/bin/stop", ({ s, h }) => (exits(h, 0, "/bin/main", "/bin/stop"), s.start()), [
      "start>stop",
      "stop>dead",
    ]);
    await story("Type=oneshot\nExecStart=/bin/main", ({ s, h }) => (exits(h, 1, "/bin/main"), s.start()), ["start>failed"]);
    await story("Type=oneshot\nExecStart=/bin/main\nExecStopPost=/bin/post", ({ s, h }) => (exits(h, 1, "/bin/main"), s.start()), ["start>stop-post"]);
    await story("Type=oneshot\nExecStart=/bin/main\nRestart=on-failure", ({ s, h }) => (exits(h, 1, "/bin/main"), s.start()), ["start>auto-restart"]);
    await story("Type=notify\nExecStart=/bin/main", ({ s, main }) => (s.start(), s.notify(main().pid, "READY=1", [])), ["start>running"]);
    await story("Type=notify\nExecStart=/bin/main\nExecStartPost=/bin/post", ({ s, main }) => (s.start(), s.notify(main().pid, "READY=1", [])), [
      "start>start-post",
    ]);
    await story("Type=notify\nExecStart=/bin/main\nTimeoutStartSec=1", ({ s, advance }) => (s.start(), advance(1e6)), [
      "start>stop-sigterm",
      "stop-sigterm>failed",
    ]);
    await story("Type=notify\nExecStart=/bin/main\nWatchdogSec=1", ({ s, advance }) => (s.start(), advance(1e6)), [
      "start>stop-watchdog",
      "stop-watchdog>failed",
    ]);
  });

  test("start-post", async () => {
    const post = "ExecStart=/bin/main\nExecStartPost=/bin/post";
    const oneshot = "Type=oneshot\nExecStart=/bin/main\nExecStartPost=/bin/post";
    await story(post, ({ s, h }) => (exits(h, 0, "/bin/post"), s.start()), ["start-post>running"]);
    await story(
      `${post}\nRemainAfterExit=yes`,
      async ({ s, h, main, last }) => {
        s.start();
        main().exit(0);
        await h.settle();
        last("/bin/post").exit(0);
      },
      ["start-post>exited"],
    );
    await story(`${post}\nExecStop=/bin/stop`, ({ s, h }) => (exits(h, 1, "/bin/post"), s.start()), ["start-post>stop"]);
    await story(post, ({ s }) => (s.start(), s.stop()), ["start-post>stop-sigterm"]);
    await story(`${post}\nWatchdogSec=1`, ({ s, advance }) => (s.start(), advance(1e6)), ["start-post>stop-watchdog"]);
    await story(oneshot, ({ s, h }) => (exits(h, 0, "/bin/main", "/bin/post"), s.start()), ["start-post>dead"]);
    await story(oneshot, ({ s, h }) => (exits(h, 0, "/bin/main"), exits(h, 1, "/bin/post"), s.start()), ["start-post>failed"]);
    await story(`${oneshot}\nExecStopPost=/bin/stoppost`, ({ s, h }) => (exits(h, 0, "/bin/main"), exits(h, 1, "/bin/post"), s.start()), [
      "start-post>stop-post",
    ]);
    await story(`${oneshot}\nRestart=on-failure`, ({ s, h }) => (exits(h, 0, "/bin/main"), exits(h, 1, "/bin/post"), s.start()), ["start-post>auto-restart"]);
  });
});

describe("while active or reloading", () => {
  test("running", async () => {
    const main = "ExecStart=/bin/main";
    await story(`${main}\nExecReload=/bin/reload`, ({ s, h }) => (exits(h, 0, "/bin/reload"), s.start(), s.reload(() => {})), [
      "running>reload",
      "reload>running",
    ]);
    await story(`${main}\nRemainAfterExit=yes`, ({ s, main }) => (s.start(), main().exit(0)), ["running>exited"]);
    await story(
      `Type=notify\n${main}`,
      ({ s, main }) => {
        s.start();
        s.notify(main().pid, "READY=1", []);
        s.notify(main().pid, "RELOADING=1", []);
        s.notify(main().pid, "READY=1", []);
      },
      ["running>reload-notify", "reload-notify>running"],
    );
    await story(`${main}\nExecStop=/bin/stop`, ({ s, h }) => (exits(h, 0, "/bin/stop"), s.start(), s.stop()), ["running>stop", "stop>stop-sigterm"]);
    await story(main, ({ s }) => (s.start(), s.stop()), ["running>stop-sigterm", "stop-sigterm>dead"]);
    await story(`${main}\nWatchdogSec=1`, ({ s, advance }) => (s.start(), advance(1e6)), ["running>stop-watchdog"]);
    await story(`${main}\nExecStopPost=/bin/post`, ({ s, main }) => (s.start(), main().exit(0)), ["running>stop-post"]);
    await story(main, ({ s, main }) => (s.start(), main().exit(0)), ["running>dead"]);
    await story(main, ({ s, main }) => (s.start(), main().exit(1)), ["running>failed"]);
    await story(`${main}\nRestart=always`, ({ s, main }) => (s.start(), main().exit(0)), ["running>auto-restart"]);
  });

  const exited = "Type=oneshot\nRemainAfterExit=yes";

  test("exited", async () => {
    await story(`${exited}\nExecReload=/bin/reload`, ({ s, h }) => (exits(h, 0, "/bin/reload"), s.start(), s.reload(() => {})), [
      "exited>reload",
      "reload>exited",
    ]);
    await story(`${exited}\nExecStop=/bin/stop`, ({ s }) => (s.start(), s.stop()), ["exited>stop"]);
    await story(exited, ({ s }) => (s.start(), s.stop()), ["exited>dead"]);
    await story(`${exited}\nExecStopPost=/bin/post`, ({ s }) => (s.start(), s.stop()), ["exited>stop-post"]);
    // A process the oneshot left in its cgroup is what SIGTERM goes to.
    await story(
      exited,
      ({ s, h }) => {
        s.start();
        const cg = h.useCgroups();
        cg.join(cg.unitPath("a.service"), h.spawner.external("left-behind"));
        s.stop();
      },
      ["exited>stop-sigterm", "stop-sigterm>dead"],
      { setup: (h) => h.useCgroups() },
    );
    // WATCHDOG=trigger from a process of the unit's cgroup (NotifyAccess=all); KillMode=process leaves it alone.
    for (const [restart, to] of [
      ["no", "failed"],
      ["on-watchdog", "auto-restart"],
    ]) {
      await story(
        `${exited}\nNotifyAccess=all\nKillMode=process\nRestart=${restart}`,
        ({ s, h }) => {
          s.start();
          const cg = h.useCgroups();
          const child = h.spawner.external("child");
          cg.join(cg.unitPath("a.service"), child);
          s.notify(child.pid, "WATCHDOG=trigger", []);
        },
        ["exited>" + to],
        { setup: (h) => h.useCgroups() },
      );
    }
    // MAINPID= names a process that exists (this one, as far as kill(pid, 0) can tell); the watchdog then stops it.
    await story(
      `${exited}\nNotifyAccess=all`,
      ({ s, h }) => {
        const cg = h.useCgroups();
        s.start();
        const daemon = h.spawner.external("daemon", process.pid);
        cg.join(cg.unitPath("a.service"), daemon);
        s.notify(daemon.pid, "MAINPID=" + process.pid, []);
        expect(s.mainPid).toBe(process.pid);
        s.notify(daemon.pid, "WATCHDOG=trigger", []);
        expect(h.killer.to(process.pid)).toEqual([6]);
      },
      ["exited>stop-watchdog"],
    );
  });

  test("reload", async () => {
    const main = "ExecStart=/bin/main\nExecReload=/bin/reload";
    await story(`${main}\nWatchdogSec=1`, ({ s, advance }) => (s.start(), s.reload(() => {}), advance(1e6)), ["reload>stop-watchdog"]);
    await story(main, ({ s }) => (s.start(), s.reload(() => {}), s.stop()), ["reload>stop-sigterm"]);
    await story(`${main}\nKillMode=none\nExecStopPost=/bin/post`, ({ s }) => (s.start(), s.reload(() => {}), s.stop()), ["reload>stop-post"]);
    await story(`${main}\nKillMode=none`, ({ s }) => (s.start(), s.reload(() => {}), s.stop()), ["reload>dead"]);
    // From exited (no main process): WATCHDOG=trigger from the reload process stops the unit.
    const fromExited = `${exited}\nExecReload=/bin/reload\nNotifyAccess=exec`;
    const trigger = ({ s, last }: Story) => (s.start(), s.reload(() => {}), s.notify(last("/bin/reload").pid, "WATCHDOG=trigger", []));
    await story(`${fromExited}\nExecStop=/bin/stop`, trigger, ["reload>stop"]);
    await story(`${fromExited}\nKillMode=none`, trigger, ["reload>failed"]);
    await story(`${fromExited}\nKillMode=none\nRestart=on-watchdog`, trigger, ["reload>auto-restart"]);
  });

  test("reload-notify", async () => {
    const reloading = async (x: Story) => {
      x.s.start();
      x.s.notify(x.main().pid, "READY=1", []);
      x.s.notify(x.main().pid, "RELOADING=1", []);
      expect(x.s.subState()).toBe("reload-notify");
    };
    await waysOutOfReload("reload-notify", "Type=notify\nExecStart=/bin/main", reloading);
  });
});

describe("Type=notify-reload", () => {
  test("reload-signal", async () => {
    const signalled = async (x: Story) => {
      x.s.start();
      x.s.notify(x.main().pid, "READY=1", []);
      x.s.reload(() => {});
      expect(x.s.subState()).toBe("reload-signal");
    };
    const nr = "Type=notify-reload\nExecStart=/bin/main";
    await story(nr, async (x) => (await signalled(x), x.s.notify(x.main().pid, "RELOADING=1", []), x.s.notify(x.main().pid, "READY=1", [])), [
      "running>reload-signal",
      "reload-signal>reload-notify",
      "reload-notify>running",
    ]);
    await story(nr, async (x) => (await signalled(x), x.s.notify(x.main().pid, "READY=1", [])), ["reload-signal>running"]);
    await waysOutOfReload("reload-signal", nr, signalled);
  });
});

describe("while stopping", () => {
  test("stop (ExecStop=)", async () => {
    const cfg = "ExecStart=/bin/main\nExecStop=/bin/stop";
    await story(
      `${cfg}\nExecStopPost=/bin/post`,
      async ({ s, main, last, settle }) => {
        s.start();
        s.stop();
        main().exit(0);
        await settle();
        last("/bin/stop").exit(0);
      },
      ["stop>stop-post"],
    );
    await story(cfg, async ({ s, h, main }) => (exits(h, 0, "/bin/stop"), s.start(), main().exit(1)), ["stop>failed"]);
    await story(`${cfg}\nRestart=on-failure`, async ({ s, h, main }) => (exits(h, 0, "/bin/stop"), s.start(), main().exit(1)), ["stop>auto-restart"]);
    await story(`${cfg}\nNotifyAccess=main`, ({ s, main }) => (s.start(), s.stop(), s.notify(main().pid, "WATCHDOG=trigger", [])), ["stop>stop-watchdog"]);
  });

  test("stop-watchdog, stop-sigterm, stop-sigkill", async () => {
    const wd = "ExecStart=/bin/main\nWatchdogSec=1\nTimeoutStopSec=1";
    await story(`${wd}\nExecStopPost=/bin/post`, ({ s, advance }) => (s.start(), advance(1e6)), ["stop-watchdog>stop-post"]);
    await story(wd, ({ s, main, advance }) => (s.start(), main().ignores.add(6), advance(2e6)), ["stop-watchdog>stop-sigkill", "stop-sigkill>failed"]);
    await story(`${wd}\nRestart=on-watchdog`, ({ s, advance }) => (s.start(), advance(1e6)), ["stop-watchdog>auto-restart"]);
    const term = "ExecStart=/bin/main\nTimeoutStopSec=1";
    const stubborn = ({ s, main, advance }: Story) => (s.start(), main().ignores.add(15), s.stop(), advance(1e6));
    await story(term, stubborn, ["stop-sigterm>stop-sigkill"]);
    await story(`${term}\nSendSIGKILL=no`, stubborn, ["stop-sigterm>final-sigterm"]);
    await story(`${term}\nExecStopPost=/bin/post`, ({ s }) => (s.start(), s.stop()), ["stop-sigterm>stop-post"]);
    await story(`Type=notify\n${term}\nRestart=on-failure`, ({ s, advance }) => (s.start(), advance(90e6)), ["stop-sigterm>auto-restart"]);
    await story(`${term}\nExecStopPost=/bin/post`, stubborn, ["stop-sigkill>stop-post"]);
    await story(`Type=notify\n${term}\nTimeoutStartSec=1\nRestart=on-failure`, ({ s, main, advance }) => (s.start(), main().ignores.add(15), advance(2e6)), [
      "stop-sigkill>auto-restart",
    ]);
  });

  test("stop-post, final-sigterm, final-sigkill", async () => {
    const post = "ExecStart=/bin/main\nExecStopPost=/bin/post\nTimeoutStopSec=1";
    await story(post, ({ s, h }) => (exits(h, 0, "/bin/post"), s.start(), s.stop()), ["stop-post>dead"]);
    await story(`${post}\nRestart=on-failure`, ({ s, h, main }) => (exits(h, 0, "/bin/post"), s.start(), main().exit(1)), ["stop-post>auto-restart"]);
    // The main process fails (an explicit stop would forbid the restart), ExecStopPost= hangs.
    const hang = async ({ s, main, last, settle, advance }: Story, ignore: number[]) => {
      s.start();
      main().exit(1);
      await settle();
      for (const sig of ignore) last("/bin/post").ignores.add(sig);
      await advance(3e6);
    };
    await story(post, (x) => hang(x, []), ["stop-post>final-sigterm", "final-sigterm>failed"]);
    await story(post, (x) => hang(x, [15]), ["final-sigterm>final-sigkill"]);
    await story(post, (x) => hang(x, [15, 9]), ["final-sigkill>failed"]);
    await story(`${post}\nRestart=on-failure`, (x) => hang(x, []), ["final-sigterm>auto-restart"]);
    await story(`${post}\nRestart=on-failure`, (x) => hang(x, [15]), ["final-sigkill>auto-restart"]);
    // ExecStopPost= leaves a process in the cgroup: the final SIGTERM ends it and the unit is dead.
    await story(
      "ExecStart=/bin/main\nExecStopPost=/bin/post",
      async ({ s, h, last, settle }) => {
        const cg = h.useCgroups();
        s.start();
        expect(s.cgroup()).toBe(cg.unitPath("a.service"));
        s.stop();
        await settle();
        cg.join(cg.unitPath("a.service"), h.spawner.external("post-child"));
        last("/bin/post").exit(0);
        await h.advance(1e6);
      },
      ["stop-post>final-sigterm", "final-sigterm>dead"],
      { setup: (h) => h.useCgroups() },
    );
  });
});

/** Rows no code path takes, and why. */
const UNREACHABLE: Record<string, string> = {};
const never = (why: string, ...rows: string[]) => rows.forEach((r) => (UNREACHABLE[r] = why));
const rowsOf = (from: string) => SERVICE_TRANSITIONS[from as keyof typeof SERVICE_TRANSITIONS].map((to) => `${from}>${to}`);
const rowsInto = (to: string) =>
  Object.entries(SERVICE_TRANSITIONS)
    .filter(([, tos]) => (tos as readonly string[]).includes(to))
    .map(([from]) => `${from}>${to}`);
never(
  "reload-signal is entered only from running (Type=notify-reload with a main process; from exited the signal is sent without a state change)",
  "exited>reload-signal",
);
never("final-watchdog is never entered (no FinalWatchdog path)", ...rowsOf("final-watchdog"), ...rowsInto("final-watchdog"));
never("cleaning is never entered (bunit has no `clean` operation)", ...rowsOf("cleaning"), ...rowsInto("cleaning"));
never(
  "start() always enters condition, start-pre or start first",
  "dead>start-post",
  "failed>start-post",
  "failed>running",
  "failed>exited",
  "auto-restart>start-post",
  "auto-restart>running",
  "auto-restart>exited",
);
never(
  "enterStart() enters start before start-post, running or exited",
  "condition>start-post",
  "condition>running",
  "condition>exited",
  "start-pre>start-post",
  "start-pre>running",
  "start-pre>exited",
);
never(
  "stop-sigkill is only entered from the stop-sigterm and stop-watchdog timeouts",
  "condition>stop-sigkill",
  "start-pre>stop-sigkill",
  "start>stop-sigkill",
  "start-post>stop-sigkill",
  "running>stop-sigkill",
  "exited>stop-sigkill",
  "reload>stop-sigkill",
  "reload-signal>stop-sigkill",
  "reload-notify>stop-sigkill",
  "stop>stop-sigkill",
);
never(
  "final-sigkill is only entered from the final-sigterm timeout",
  "condition>final-sigkill",
  "start-pre>final-sigkill",
  "start>final-sigkill",
  "start-post>final-sigkill",
  "running>final-sigkill",
  "exited>final-sigkill",
  "reload>final-sigkill",
  "reload-signal>final-sigkill",
  "reload-notify>final-sigkill",
  "stop>final-sigkill",
  "stop-watchdog>final-sigkill",
  "stop-sigterm>final-sigkill",
  "stop-sigkill>final-sigkill",
  "stop-post>final-sigkill",
);
never(
  "final-sigterm follows stop-post only after enterSignal(stop-*) found nothing to signal, so nothing is left to signal either (KillMode=control-group waits for an empty cgroup first)",
  "condition>final-sigterm",
  "start-pre>final-sigterm",
  "start>final-sigterm",
  "start-post>final-sigterm",
  "running>final-sigterm",
  "exited>final-sigterm",
  "reload>final-sigterm",
  "reload-signal>final-sigterm",
  "reload-notify>final-sigterm",
  "stop>final-sigterm",
  "stop-watchdog>final-sigterm",
  "stop-sigkill>final-sigterm",
);
never("stop-watchdog needs a main process, which condition and start-pre never have", "condition>stop-watchdog", "start-pre>stop-watchdog");
never("exited -> running: nothing in exited sets running (adopting a MAINPID= keeps exited)", "exited>running");
never(
  "stop-watchdog, stop-sigkill and final-sigkill always carry a failure result (watchdog, timeout), so they end in failed, never dead",
  "stop-watchdog>dead",
  "stop-sigkill>dead",
  "final-sigkill>dead",
);

describe("the transition table", () => {
  test("every row of SERVICE_TRANSITIONS is reached by a story above, or listed as unreachable with the reason", () => {
    const table = Object.entries(SERVICE_TRANSITIONS).flatMap(([from, tos]) => tos.map((to) => `${from}>${to}`));
    for (const r of Object.keys(UNREACHABLE)) expect(table).toContain(r);
    const missing = table.filter((r) => !reached.has(r) && !(r in UNREACHABLE));
    const reachedAnyway = [...reached].filter((r) => r in UNREACHABLE);
    const outside = [...reached].filter((r) => !table.includes(r));
    expect({ missing, reachedAnyway, outside }).toEqual({ missing: [], reachedAnyway: [], outside: [] });
    // Every state a code path enters is also left.
    const left = new Set([...reached].map((r) => r.split(">")[0]));
    expect(Object.keys(SERVICE_TRANSITIONS).filter((s) => !left.has(s))).toEqual(["final-watchdog", "cleaning"]);
  });
});
