/**
 * Every directive bunit parses but does not act on gives a notice (issue 14: `bunit verify` was
 * silent about PartOf=, RequiresMountsFor=, ...); the ones it acts on give none.
 */
import { describe, expect, test } from "bun:test";
import { unitFromText } from "../testing/fake-host.ts";

const notices = (name: string, text: string) =>
  unitFromText(name, text)
    .diagnostics.filter((d) => d.level === "notice")
    .map((d) => d.key);

describe("parsed directives without effect", () => {
  test("[Unit]: each one is a notice", () => {
    const keys = [
      "JoinsNamespaceOf=a.service",
      "RequiresMountsFor=/srv",
      "WantsMountsFor=/srv",
      "AllowIsolate=yes",
      "IgnoreOnIsolate=yes",
      "JobTimeoutSec=5",
      "JobRunningTimeoutSec=5",
      "FailureAction=reboot",
      "SuccessAction=exit",
      "StartLimitAction=reboot",
      "JobTimeoutAction=reboot",
      "CollectMode=inactive-or-failed",
      "RebootArgument=x",
    ];
    const text = `[Unit]\n${keys.join("\n")}\n[Service]\nExecStart=/bin/a\n`;
    expect(notices("a.service", text)).toEqual(keys.map((k) => k.split("=")[0]));
  });

  test("[Service] and exec settings: each one is a notice", () => {
    const keys = [
      "BusName=org.example",
      "OOMPolicy=stop",
      "PermissionsStartOnly=yes",
      "RootDirectoryStartOnly=yes",
      "TimeoutStartFailureMode=abort",
      "TimeoutStopFailureMode=kill",
      "SyslogIdentifier=x",
      "SyslogLevelPrefix=no",
      "SyslogFacility=daemon",
      "SyslogLevel=debug",
      "RestartKillSignal=SIGINT",
    ];
    expect(notices("a.service", `[Service]\nExecStart=/bin/a\n${keys.join("\n")}\n`)).toEqual(keys.map((k) => k.split("=")[0]));
  });

  test("directives bunit acts on give no notice (PartOf=, Upholds=, StopWhenUnneeded=, RefuseManual*=, Propagates*=)", () => {
    const text =
      "[Unit]\nPartOf=b.service\nUpholds=c.service\nStopWhenUnneeded=yes\nRefuseManualStart=yes\nRefuseManualStop=yes\nPropagatesReloadTo=d.service\n" +
      "ReloadPropagatedFrom=e.service\nPropagatesStopTo=f.service\nStopPropagatedFrom=g.service\nDocumentation=man:a(8)\n[Service]\nExecStart=/bin/a\nRuntimeMaxSec=5\nRestartSteps=3\nRestartMaxDelaySec=9\n";
    expect(notices("a.service", text)).toEqual([]);
  });
});
