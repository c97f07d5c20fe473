/**
 * ListenNetlink=route: the daemon runs in a network namespace the test creates; bringing an
 * interface up there sends RTM_NEWLINK to RTMGRP_LINK (group mask 1) and activates the service.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { $ } from "zx";
import { repoRoot } from "../../scripts/lib/paths.ts";
import { testBinary, waitFor } from "../support/harness.ts";

$.verbose = false;
const ns = `bunit-nl-${process.pid}`;
const dir = mkdtempSync(join(tmpdir(), "bunit-nl-"));
afterAll(async () => {
  await $`ip netns del ${ns}`.nothrow();
  rmSync(dir, { recursive: true, force: true });
});

describe("ListenNetlink=", () => {
  test("a route netlink event in the namespace activates the service with the netlink fd", async () => {
    const report = await testBinary("sd-listen-report", ["libsystemd"]);
    writeFileSync(join(dir, "rtnl.socket"), "[Socket]\nListenNetlink=route 1\n[Install]\nWantedBy=sockets.target\n");
    writeFileSync(join(dir, "rtnl.service"), `[Service]\nExecStart=${report} --file ${dir}/report\n`);
    await $`ip netns add ${ns}`;
    const cli = join(repoRoot, "firmware/cli.ts");
    const p = Bun.spawn(
      ["ip", "netns", "exec", ns, process.execPath, cli, "daemon", "--units", dir, "--control", join(dir, "control"), "--log-level", "debug"],
      { stderr: "pipe", stdout: "ignore" },
    );
    // The control socket is a file, reachable from outside the namespace.
    const status = async () => {
      const r = await $({ nothrow: true, quiet: true })`${process.execPath} ${cli} status --socket ${join(dir, "control")} --json rtnl.socket rtnl.service`;
      return r.exitCode === 0 || r.exitCode === 3 ? (JSON.parse(r.stdout) as { units: { unit: string; subState: string }[] }).units : null;
    };
    try {
      // Nothing happens in the new namespace until the test acts: once the socket listens (its
      // netlink fd is bound and watched), the service must still be dead.
      await waitFor(async () => (await status())?.find((u) => u.unit === "rtnl.socket")?.subState === "listening", 15000, "rtnl.socket listening");
      expect((await status())!.map((u) => `${u.unit} ${u.subState}`)).toEqual(["rtnl.socket listening", "rtnl.service dead"]);
      expect(existsSync(join(dir, "report"))).toBe(false);
      await $`ip -n ${ns} link set lo up`;
      // The file exists, empty, from the service's fopen() until its one write at fclose().
      await waitFor(() => existsSync(join(dir, "report")) && readFileSync(join(dir, "report"), "utf8").length > 0, 5000, "activation");
      expect(readFileSync(join(dir, "report"), "utf8")).toContain("fd=3 name=rtnl.socket kind=netlink listening=0");
    } finally {
      p.kill("SIGTERM");
      await p.exited;
    }
  }, 20000);
});
