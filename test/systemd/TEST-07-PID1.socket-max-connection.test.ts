/**
 * systemd test/units/TEST-07-PID1.socket-max-connection.sh: MaxConnectionsPerSource=2 on an
 * AF_UNIX Accept=yes socket counts connections per peer UID: two from root are served (their
 * ExecStartPre= writes "waldo" to the connection), a third from root is refused before any
 * output, one from UID 1 is served. Fixtures: units/TEST-07-PID1.socket-max-connection/.
 * Clients are socat as upstream (`socat -U - UNIX-CONNECT:...`), their output collected.
 */
import { afterAll, expect, test } from "bun:test";
import { BunitDaemon, until } from "./support.ts";

let d: BunitDaemon | null = null;
const clients: { proc: ReturnType<typeof Bun.spawn>; out: string }[] = [];

afterAll(async () => {
  for (const c of clients) c.proc.kill("SIGKILL");
  await d?.stop();
});

/** socat -U - UNIX-CONNECT:path (optionally under setpriv --reuid=N), output accumulated. */
function connect(path: string, reuid?: number) {
  const argv = ["socat", "-U", "-", `UNIX-CONNECT:${path}`];
  const proc = Bun.spawn(reuid === undefined ? argv : ["setpriv", `--reuid=${reuid}`, ...argv], { stdin: "pipe", stdout: "pipe", stderr: "ignore" });
  const c = { proc, out: "" };
  clients.push(c);
  void (async () => {
    const dec = new TextDecoder();
    for await (const chunk of proc.stdout as ReadableStream<Uint8Array>) c.out += dec.decode(chunk);
  })();
  return c;
}

test("MaxConnectionsPerSource=2: a third connection from one UID is refused, another UID is served", async () => {
  d = await BunitDaemon.start("TEST-07-PID1.socket-max-connection");
  const dd = d;
  const path = dd.path("per-source-limit.sk");
  await dd.ok("reload");
  await dd.ok("start", "per-source-limit.socket");
  await dd.ok("status", "per-source-limit.socket");

  // So these two should take up the first two connection slots
  const c1 = connect(path);
  const c2 = connect(path);

  // Wait until the word "waldo" shows in the output (upstream: 21 tries, 0.5 s apart)
  const waitfor = (c: { out: string }, what: string) =>
    until(
      () => c.out.includes("waldo"),
      10500,
      `waldo on ${what}`,
      () => dd.logTail(),
    );
  await waitfor(c1, "connection 1");
  await waitfor(c2, "connection 2");

  // The next connection should fail, because the limit is hit
  const c3 = connect(path);

  // But this one should work, because done under a different UID
  const c4 = connect(path, 1);

  await waitfor(c4, "connection 4 (uid 1)");

  // The third job should fail quickly, wait for it
  await until(() => c3.proc.exitCode !== null, 10000, "connection 3 to end");

  // The 3rd connection should not have seen "waldo", since it should have been refused too early
  expect(c3.out).not.toContain("waldo");
}, 60000);
