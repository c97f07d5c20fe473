/**
 * OpenSSH's sshd (Debian package openssh-server): Debian 12 ships ssh.socket with Accept=no and
 * ssh.service with Type=notify, an ExecStartPre= config check, and two ExecReload= lines (check,
 * then SIGHUP, on which sshd re-executes itself); sshd takes the socket with libsystemd's
 * sd_listen_fds() and reports READY=1 with sd_notify(). Client: ssh with a generated key.
 *
 * sshd's SIGHUP restart closes its listening sockets and re-executes itself; the new image has
 * no activated socket (fd 3 is gone) and binds what its configuration says, as under systemd
 * (README.Debian documents only start/stop of ssh.socket). Left alone that is port 22 on every
 * address, so $SSHD_OPTS names a ListenAddress on loopback and a second test port, and the
 * test checks that sshd listens there after the reload.
 */
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync, readFileSync, chmodSync } from "node:fs";
import { join } from "node:path";
import { $ } from "zx";
import { testPort, waitFor } from "../support/harness.ts";
import { BunitDaemon, changed, installPackages, shippedUnit, type UnitChange } from "./setup.ts";

$.verbose = false;
setDefaultTimeout(30_000);

let d: BunitDaemon;
let port: number;
let port2: number;
let keys: string;

/** Every change made to the shipped units (also listed in README.md). */
const changes = (p: number, k: string): { socket: UnitChange[]; service: UnitChange[] } => ({
  socket: [{ from: "ListenStream=22", to: `ListenStream=127.0.0.1:${p}`, why: "port: loopback and a test port instead of 22 on every address" }],
  service: [
    {
      from: "EnvironmentFile=-/etc/default/ssh",
      to: `EnvironmentFile=-${k}/default-ssh`,
      why: "path: $SSHD_OPTS from the test (its own host key, authorized_keys and pid file), not the host's",
    },
  ],
});

beforeAll(async () => {
  await installPackages(["openssh-server", "openssh-client"]);
  port = testPort();
  port2 = testPort();
  keys = mkdtempSync("/run/bunit-ssh-keys-");
  chmodSync(keys, 0o755);
  await $`ssh-keygen -q -t ed25519 -N ${""} -f ${join(keys, "host")}`;
  await $`ssh-keygen -q -t ed25519 -N ${""} -f ${join(keys, "client")}`;
  writeFileSync(join(keys, "authorized_keys"), readFileSync(join(keys, "client.pub")));
  const opts = [
    `-h ${keys}/host`,
    `-o AuthorizedKeysFile=${keys}/authorized_keys`,
    "-o StrictModes=no",
    `-o PidFile=${keys}/sshd.pid`,
    `-o ListenAddress=127.0.0.1:${port2}`,
  ];
  writeFileSync(join(keys, "default-ssh"), `SSHD_OPTS="${opts.join(" ")}"\n`);
  const c = changes(port, keys);
  d = await BunitDaemon.start({ "ssh.socket": changed(shippedUnit("ssh.socket"), c.socket), "ssh.service": changed(shippedUnit("ssh.service"), c.service) }, [
    "ssh.socket",
  ]);
}, 600_000); // a fresh machine runs apt-get update and installs the packages first

afterAll(async () => {
  await d?.stop();
  if (keys) rmSync(keys, { recursive: true, force: true });
});

/** ssh root@127.0.0.1 -p PORT with the generated key, running a command. */
const ssh = (cmd: string, p = port) =>
  $`timeout 20 ssh -p ${p} -i ${join(keys, "client")} -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR root@127.0.0.1 ${cmd}`.nothrow();

const mainPid = async () => (await d.ctl(["show", "ssh.service", "-P", "MainPID"])).stdout.trim();

test("ssh.socket listens and sshd is not started before the first connection", async () => {
  expect(await d.sub("ssh.socket")).toBe("listening");
  expect(await d.sub("ssh.service")).toBe("dead");
  expect((await $`ss -ltnH src 127.0.0.1:${port}`).stdout).toContain(`127.0.0.1:${port}`);
});

test("the first connection starts sshd (ExecStartPre= check, READY=1) and logs in with the key", async () => {
  const r = await ssh("echo hello-from-sshd");
  expect(r.stderr).toBe("");
  expect(r.stdout.trim()).toBe("hello-from-sshd");
  await d.waitSub("ssh.service", "running");
});

test("bunit reload runs both ExecReload= lines; sshd re-executes with the same PID and listens on its own ListenAddress", async () => {
  const before = await mainPid();
  const r = await d.ctl(["reload", "ssh.service"]);
  expect(r.stderr).toBe("");
  expect(r.exitCode).toBe(0);
  await d.waitSub("ssh.service", "running");
  expect(await mainPid()).toBe(before);
  // The re-executed sshd (same PID, SIGHUP handled) listens on its configured address. A login
  // there is not asserted: the re-executed image has lost fds 0-2, its listener takes fd 0 and
  // connections are closed at once. sshd does the same under systemd-socket-activate, so this
  // is sshd's behaviour with an activated socket, not bunit's.
  await waitFor(async () => (await $`ss -ltnpH src 127.0.0.1:${port2}`).stdout.includes(`pid=${before},`), 10_000, "sshd's own listener after the re-exec");
});

test("stopping ssh.service hands the port back to ssh.socket, and a connection starts sshd again", async () => {
  expect((await d.ctl(["stop", "ssh.service"])).exitCode).toBe(0);
  await d.waitSub("ssh.service", "dead");
  await d.waitSub("ssh.socket", "listening");
  const r = await ssh("echo again");
  expect(r.stdout.trim()).toBe("again");
  await d.waitSub("ssh.service", "running");
});
