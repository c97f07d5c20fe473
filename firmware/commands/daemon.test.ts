import { expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DAEMON_HELP, parseDaemonArgs, runDaemon } from "./daemon.ts";

test("--units names existing directories; a missing one is an error, not an empty unit set", () => {
  const d = mkdtempSync(join(tmpdir(), "bunit-daemon-args-"));
  try {
    const a = parseDaemonArgs(["--units", d, "--log-group", "adm", "--control-group", "4242"]);
    expect(a.units).toEqual([d]);
    expect(a.logGroup).toBe("adm");
    expect(a.controlGroup).toBe("4242");
    expect(() => parseDaemonArgs(["--units", join(d, "missing")])).toThrow(`--units ${join(d, "missing")}: no such directory`);
  } finally {
    rmSync(d, { recursive: true, force: true });
  }
});

test("--help lists every option parseDaemonArgs takes", async () => {
  for (const opt of [
    "--units",
    "--target",
    "--log-level",
    "--log-target",
    "--syslog-socket",
    "--log-ring",
    "--control",
    "--control-group",
    "--log-group",
    "--notify-socket",
    "--gadget",
    "--no-cgroup",
  ]) {
    expect(DAEMON_HELP).toContain(`  ${opt}`);
  }
  expect(await runDaemon(["--help"])).toBe(0);
});
