import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, readFileSync, writeFileSync, mkdirSync, statSync } from "node:fs";
import { TestDaemon, waitFor } from "../support/harness.ts";
import type { ServiceUnit } from "../../firmware/service/service-unit.ts";

// "$$" is a literal "$" in unit files; the shell then expands ${LISTEN_FDS:-none}.
const dump = (tag: string) =>
  "/bin/sh -c 'echo \"" +
  tag +
  " fds=$${LISTEN_FDS:-none} names=$${LISTEN_FDNAMES:-none} fd3=$$(test -e /proc/self/fd/3 && echo yes || echo no)\" >> @DIR@/trace'";

describe("socket control commands", () => {
  let d: TestDaemon;
  beforeAll(async () => {
    d = await TestDaemon.start({
      "ctl.socket": `[Socket]
ListenStream=@DIR@/ctl.sock
FileDescriptorName=foo
PassFileDescriptorsToExec=yes
ExecStartPre=${dump("start-pre")}
ExecStartPost=${dump("start-post")}
ExecStopPre=${dump("stop-pre")}
ExecStopPost=${dump("stop-post")}
[Install]
WantedBy=sockets.target
`,
      "ctl.service": "[Service]\nExecStart=/bin/true\n",
      "nofds.socket": `[Socket]\nListenStream=@DIR@/nofds.sock\nExecStartPost=${dump("nofds-post")}\n[Install]\nWantedBy=sockets.target\n`,
      "nofds.service": "[Service]\nExecStart=/bin/true\n",
      "slow.socket": "[Socket]\nListenStream=@DIR@/slow.sock\nExecStartPre=/bin/sleep 30\nTimeoutSec=1\n[Install]\nWantedBy=sockets.target\n",
      "slow.service": "[Service]\nExecStart=/bin/true\n",
      "badpre.socket": "[Socket]\nListenStream=@DIR@/badpre.sock\nExecStartPre=/bin/false\n[Install]\nWantedBy=sockets.target\n",
      "badpre.service": "[Service]\nExecStart=/bin/true\n",
      "ignored.socket": "[Socket]\nListenStream=@DIR@/ignored.sock\nExecStartPre=-/bin/false\n[Install]\nWantedBy=sockets.target\n",
      "ignored.service": "[Service]\nExecStart=/bin/true\n",
    });
  });
  afterAll(() => d?.stop());

  test("ExecStartPre=, ExecStartPost= run in order; fds reach only the post commands with PassFileDescriptorsToExec=", async () => {
    await d.waitState("ctl.socket", "listening");
    await d.manager.stop("ctl.socket");
    expect(
      readFileSync(d.path("trace"), "utf8")
        .split("\n")
        .filter((l) => !l.startsWith("nofds")),
    ).toEqual([
      "start-pre fds=none names=none fd3=no",
      "start-post fds=1 names=foo fd3=yes",
      "stop-pre fds=1 names=foo fd3=yes",
      "stop-post fds=1 names=foo fd3=yes",
      "",
    ]);
  });

  test("without PassFileDescriptorsToExec= no command sees the fds", () => {
    expect(readFileSync(d.path("trace"), "utf8")).toContain("nofds-post fds=none names=none fd3=no");
  });

  test("TimeoutSec= ends a hanging ExecStartPre= and fails the socket with 'timeout'", async () => {
    await d.waitState("slow.socket", "failed", 5000);
    expect(d.socket("slow.socket").result).toBe("timeout");
  });

  test("a failing ExecStartPre= fails the socket; with '-' the failure is ignored", async () => {
    await d.waitState("badpre.socket", "failed");
    expect(d.socket("badpre.socket").result).toBe("exit-code");
    await d.waitState("ignored.socket", "listening");
  });
});

describe("service execution settings", () => {
  let d: TestDaemon;
  beforeAll(async () => {
    d = await TestDaemon.start(
      {
        "env.service":
          `[Service]
Type=oneshot
Environment=A=1 "B=two words" C=%n
Environment=A=override
EnvironmentFile=@DIR@/env.conf
EnvironmentFile=-@DIR@/missing.conf
UnsetEnvironment=C
PassEnvironment=PASSME
WorkingDirectory=@DIR@/work
UMask=0027
ExecStart=/bin/sh -c 'echo "A=$$A B=$$B C=$$` +
          "{C:-unset}" +
          ` D=$$D E=$$E PASSME=$$PASSME pwd=$$(pwd)" > @DIR@/env.out; touch umask.probe'
`,
        "user.service":
          "[Service]\nType=oneshot\nUser=nobody\nGroup=nogroup\nSupplementaryGroups=adm\nExecStart=/bin/sh -c 'id -u; id -g; id -G; echo $$USER $$HOME' \nStandardOutput=file:@DIR@/user.out\n",
        "multi.service":
          "[Service]\nType=oneshot\nExecStart=/bin/sh -c 'echo one >> @DIR@/oneshot'\nExecStart=/bin/sh -c 'echo two >> @DIR@/oneshot'\nRemainAfterExit=yes\n",
        "badexec.service": "[Service]\nType=exec\nExecStart=/nonexistent/program\n",
        "simplebad.service": "[Service]\nExecStart=/nonexistent/program\n",
        "exitcode.service": "[Service]\nExecStart=/bin/sh -c 'exit 3'\n",
        "success.service": "[Service]\nExecStart=/bin/sh -c 'exit 3'\nSuccessExitStatus=3\n",
        "cond.service": "[Unit]\nConditionPathExists=@DIR@/nope\n[Service]\nExecStart=/bin/true\n",
        "restart.service":
          "[Service]\nExecStart=/bin/sh -c 'echo run >> @DIR@/restarts; exit 1'\nRestart=on-failure\nRestartSec=50ms\nStartLimitBurst=3\nStartLimitIntervalSec=10s\n",
        "stop.service":
          "[Service]\nExecStart=/bin/sleep 60\nExecStop=/bin/sh -c 'echo stop $$MAINPID >> @DIR@/stop.out'\nExecStopPost=/bin/sh -c 'echo post $$SERVICE_RESULT >> @DIR@/stop.out'\n",
        "text.service":
          "[Service]\nType=oneshot\nStandardInput=data\nStandardInputText=first line\nStandardInputText=unit %n\nExecStart=/bin/sh -c 'cat > @DIR@/text.out'\n",
        // 192 KiB: three times a pipe's buffer, so the daemon writes as the program reads.
        "data.service": `[Service]\nType=oneshot\nStandardInput=data\nStandardInputData=${Buffer.alloc(196608, 0xa5).toString("base64")}\nExecStart=/bin/sh -c 'wc -c > @DIR@/data.out'\n`,
        "deaf.service": `[Service]\nType=oneshot\nStandardInput=data\nStandardInputData=${Buffer.alloc(196608, 0x5a).toString("base64")}\nExecStart=/bin/true\n`,
      },
      { boot: false, env: { PASSME: "passed", PATH: process.env.PATH ?? "" } },
    );
    mkdirSync(d.path("work"));
    chmodSync(d.dir, 0o755);
    writeFileSync(d.path("env.conf"), "# comment\nD=from-file\nE='quoted value'\nA=file-wins\n");
  });
  afterAll(() => d?.stop());

  test("Environment=, EnvironmentFile=, UnsetEnvironment=, PassEnvironment=, WorkingDirectory=, UMask=, specifiers", async () => {
    expect(await d.manager.start("env.service")).toBe("done");
    expect(readFileSync(d.path("env.out"), "utf8")).toBe(`A=file-wins B=two words C=unset D=from-file E=quoted value PASSME=passed pwd=${d.path("work")}\n`);
    expect(statSync(d.path("work/umask.probe")).mode & 0o777).toBe(0o640);
  });

  test("User=, Group=, SupplementaryGroups= and the USER/HOME variables", async () => {
    expect(await d.manager.start("user.service")).toBe("done");
    const [uid, gid, groups, userHome] = readFileSync(d.path("user.out"), "utf8").trim().split("\n");
    expect(uid).toBe("65534");
    expect(gid).toBe("65534");
    expect(groups!.split(" ").sort()).toEqual(["4", "65534"]);
    expect(userHome).toBe("nobody /nonexistent");
  });

  test("Type=oneshot runs every ExecStart= in order; RemainAfterExit= keeps it active", async () => {
    expect(await d.manager.start("multi.service")).toBe("done");
    expect(readFileSync(d.path("oneshot"), "utf8")).toBe("one\ntwo\n");
    expect(d.sub("multi.service")).toBe("exited");
  });

  test("Type=exec fails the start job when the program cannot be executed (203/EXEC)", async () => {
    expect(await d.manager.start("badexec.service")).toBe("failed");
    const s = d.unit("badexec.service") as ServiceUnit;
    expect(s.mainExit).toEqual({ code: 203, signal: null });
    expect(d.messages("badexec.service").join("\n")).toContain("status=203/EXEC");
  });

  test("Type=simple starts at once and fails afterwards", async () => {
    expect(await d.manager.start("simplebad.service")).toBe("done");
    await d.waitState("simplebad.service", "failed");
  });

  test("exit status tracking and SuccessExitStatus=", async () => {
    await d.manager.start("exitcode.service");
    await d.waitState("exitcode.service", "failed");
    expect(d.unit("exitcode.service").result).toBe("exit-code");
    expect(d.messages("exitcode.service").join("\n")).toContain("code=exited, status=3/NOTIMPLEMENTED");
    await d.manager.start("success.service");
    await d.waitState("success.service", "dead");
    expect(d.unit("success.service").result).toBe("success");
  });

  test("a failed condition skips the service without failing", async () => {
    expect(await d.manager.start("cond.service")).toBe("done");
    expect(d.sub("cond.service")).toBe("dead");
    expect(d.messages("cond.service").join("\n")).toContain("ConditionPathExists=");
  });

  test("Restart=on-failure restarts until the start limit", async () => {
    await d.manager.start("restart.service");
    await waitFor(
      () => d.sub("restart.service") === "failed" && d.unit("restart.service").result === "start-limit-hit",
      5000,
      "restart.service to hit its start limit",
    );
    // Each run wrote its line before it exited, and "failed" with start-limit-hit schedules no
    // further restart: the file is complete now.
    expect(d.unit("restart.service").result).toBe("start-limit-hit");
    expect(readFileSync(d.path("restarts"), "utf8")).toBe("run\nrun\nrun\n");
  });

  test("StandardInput=data: StandardInputText= lines and a StandardInputData= larger than a pipe reach stdin", async () => {
    expect(await d.manager.start("text.service")).toBe("done");
    expect(readFileSync(d.path("text.out"), "utf8")).toBe("first line\nunit text.service\n");
    expect(await d.manager.start("data.service")).toBe("done");
    expect(readFileSync(d.path("data.out"), "utf8").trim()).toBe("196608");
    // A program that never reads its stdin: the rest of the data is dropped (EPIPE), nothing else.
    expect(await d.manager.start("deaf.service")).toBe("done");
    expect(await d.manager.start("text.service")).toBe("done");
  });

  test("ExecStop= gets $MAINPID, ExecStopPost= gets $SERVICE_RESULT", async () => {
    await d.manager.start("stop.service");
    const pid = (d.unit("stop.service") as ServiceUnit).mainPid;
    expect(await d.manager.stop("stop.service")).toBe("done");
    expect(readFileSync(d.path("stop.out"), "utf8")).toBe(`stop ${pid}\npost success\n`);
  });
});

describe("command line prefixes", () => {
  let d: TestDaemon;
  afterAll(() => d?.stop());
  test("'@' sets argv[0], ':' turns off $VAR expansion, '+' ignores User=", async () => {
    d = await TestDaemon.start(
      {
        "p.service": `[Service]
Type=oneshot
User=nobody
Environment=FOO=bar
ExecStart=@/bin/sh custom-name -c 'echo "argv0=$$0" >> @DIR@/p.out'
ExecStart=/bin/sh -c 'echo "expanded=$$1" >> @DIR@/p.out' sh \${FOO}
ExecStart=:/bin/sh -c 'echo "literal=$1" >> @DIR@/p.out' sh \${FOO}
ExecStart=+/bin/sh -c 'echo "uid=$$(id -u)" >> @DIR@/p.out'
ExecStart=/bin/sh -c 'echo "uid=$$(id -u)" >> @DIR@/p.out'
`,
      },
      { boot: false },
    );
    chmodSync(d.dir, 0o777);
    expect(await d.manager.start("p.service")).toBe("done");
    expect(readFileSync(d.path("p.out"), "utf8")).toBe("argv0=custom-name\nexpanded=bar\nliteral=$" + "{FOO}\nuid=0\nuid=65534\n");
  });
});
