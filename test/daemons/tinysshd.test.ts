/**
 * tinysshd (Debian package tinysshd): the inetd-style case, tinysshd.socket with Accept=yes and
 * tinysshd@.service with StandardInput=socket (the connection is fds 0 and 1), an
 * `ExecStartPre=-` key generator and SuccessExitStatus=111. Client: OpenSSH's ssh-keyscan,
 * whose answer must be the host key tinysshd-printkey reads from the key directory.
 */
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { existsSync } from "node:fs";
import { $ } from "zx";
import { testPort, waitFor } from "../support/harness.ts";
import { BunitDaemon, changed, installPackages, shippedUnit, type UnitChange } from "./setup.ts";

$.verbose = false;
setDefaultTimeout(30_000);

let d: BunitDaemon;
let port: number;

/** Every change made to the shipped units (also listed in README.md). */
const changes = (p: number): { socket: UnitChange[]; service: UnitChange[] } => ({
  socket: [{ from: "ListenStream=22", to: `ListenStream=127.0.0.1:${p}`, why: "port: loopback and a test port instead of 22 on every address" }],
  service: [{ from: "/etc/tinyssh/sshkeydir", to: "@DIR@/sshkeydir", why: "path: a temp key directory (both the ExecStartPre= and ExecStart= lines)" }],
});

beforeAll(async () => {
  await installPackages(["tinysshd", "openssh-client"]);
  port = testPort();
  const c = changes(port);
  d = await BunitDaemon.start(
    { "tinysshd.socket": changed(shippedUnit("tinysshd.socket"), c.socket), "tinysshd@.service": changed(shippedUnit("tinysshd@.service"), c.service) },
    ["tinysshd.socket"],
  );
}, 600_000); // a fresh machine runs apt-get update and installs the packages first

afterAll(async () => {
  await d?.stop();
});

/** Instances of tinysshd@.service the daemon knows (list-units --all). */
const instances = async () => (await d.ctl(["list-units", "--all"])).stdout.split("\n").filter((l) => l.includes("tinysshd@"));

test("tinysshd.socket listens; no instance and no key before the first connection", async () => {
  expect(await d.sub("tinysshd.socket")).toBe("listening");
  expect(existsSync(d.path("sshkeydir"))).toBe(false);
  expect((await instances()).filter((l) => /\brunning\b/.test(l))).toEqual([]);
});

test("ssh-keyscan gets the key the instance's ExecStartPre= generated, over the connection on stdin/stdout", async () => {
  const scan = await $`timeout 20 ssh-keyscan -t ed25519 -p ${port} 127.0.0.1`.nothrow();
  const key = (await $`tinysshd-printkey ${d.path("sshkeydir")}`).stdout.trim().split(/\s+/).slice(0, 2).join(" ");
  expect(key).toMatch(/^ssh-ed25519 AAAA/);
  expect(scan.stdout).toContain(`[127.0.0.1]:${port} ${key}`);
});

test("each connection is its own instance, which ends successfully when the client goes (not failed)", async () => {
  await $`timeout 20 ssh-keyscan -t ed25519 -p ${port} 127.0.0.1`.nothrow();
  // Two connections so far (this one and the previous test's): two instances, each ended.
  const ended = async () => (await d.logs()).match(/tinysshd@\S*\.service: Deactivated successfully/g)?.length ?? 0;
  await waitFor(async () => (await ended()) >= 2, 10_000, "two instances to end");
  await waitFor(async () => (await instances()).every((l) => !/\b(running|start)\b/.test(l)), 10_000, "no instance left running");
  const log = await d.logs();
  expect(log).toMatch(/tinysshd@1-\S*\.service: ExecStartPre \/usr\/sbin\/tinysshd-makekey exited, status=111 \(ignored\)/);
  expect(log).not.toMatch(/tinysshd@\S*\.service: Failed/);
  expect(await d.sub("tinysshd.socket")).toBe("listening");
});
