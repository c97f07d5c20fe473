/**
 * vsock inside the QEMU board, over the loopback transport (CID 1; this machine has no
 * vhost-vsock for a real host-guest device): a socket whose transport is missing waits and binds
 * when the module is loaded; Accept=yes gives each connection an inetd-style instance with
 * REMOTE_ADDR=vsock:1; MaxConnectionsPerSource= counts per CID; `bunit vsock` and the TS API
 * connect and listen. Ports are >= 20000; CID 2 (the hypervisor host) is never used.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { connectVsock, listenVsock, VsockListener, type VsockStream } from "../../firmware/lib/vsock.ts";
import { UsbDaemon, waitFor } from "./support.ts";

const PORT = 20001;

async function readAll(s: VsockStream, until: (t: string) => boolean, timeoutMs = 20000): Promise<string> {
  let text = "";
  const dec = new TextDecoder();
  const reader = s.readable.getReader();
  const deadline = Date.now() + timeoutMs;
  while (!until(text)) {
    const left = deadline - Date.now();
    if (left <= 0) throw new Error(`timed out; got ${JSON.stringify(text)}`);
    const r = await Promise.race([reader.read(), Bun.sleep(left).then(() => ({ done: true, value: undefined, timeout: true }))]);
    if ("timeout" in r) throw new Error(`timed out; got ${JSON.stringify(text)}`);
    if (r.done) break;
    text += dec.decode(r.value, { stream: true });
  }
  reader.releaseLock();
  return text;
}

const modules = () => readFileSync("/proc/modules", "utf8");

describe("vsock sockets in the QEMU board", () => {
  let daemon: UsbDaemon;
  beforeAll(async () => {
    // No loopback transport: binding CID 1 is impossible until the module is loaded.
    Bun.spawnSync(["modprobe", "-r", "vsock_loopback"]);
    expect(modules()).not.toContain("vsock_loopback");
    const dir = mkdtempSync("/tmp/bunit-vsock-");
    writeFileSync(
      join(dir, "vecho.socket"),
      `[Socket]\nListenStream=vsock:local:${PORT}\nAccept=yes\nMaxConnections=64\nMaxConnectionsPerSource=40\n[Install]\nWantedBy=sockets.target\n`,
    );
    writeFileSync(join(dir, "vecho@.service"), `[Service]\nExecStart=/bin/sh -c 'echo "$REMOTE_ADDR $REMOTE_PORT"; exec cat'\nStandardInput=socket\n`);
    daemon = await UsbDaemon.start(dir);
    await daemon.waitLog(/Reached default\.target/);
  });
  afterAll(async () => {
    await daemon?.stop();
    Bun.spawnSync(["modprobe", "vsock_loopback"]);
  });

  test("a socket whose vsock transport is missing waits, and binds when the module is loaded", async () => {
    expect(daemon.log()).toMatch(
      new RegExp(
        `vecho\\.socket: the vsock transport for vsock:local:${PORT} is not there yet \\(E[A-Z]+\\); vsock:local:${PORT} will be bound when it appears`,
      ),
    );
    expect(daemon.log()).not.toContain("Failed to create listening socket");
    expect(Bun.spawnSync(["modprobe", "vsock_loopback"]).exitCode).toBe(0);
    await daemon.waitLog(new RegExp(`vsock:local:${PORT}: bound now`), 10000);
  });

  test("Accept=yes: many concurrent connections, each with its own instance and REMOTE_ADDR=vsock:1", async () => {
    const conns = await Promise.all(Array.from({ length: 30 }, () => connectVsock(`local:${PORT}`)));
    const answers = await Promise.all(
      conns.map(async (c, i) => {
        await c.write(`line ${i}\n`);
        c.end();
        return readAll(c, (t) => t.includes(`line ${i}\n`));
      }),
    );
    answers.forEach((a, i) => {
      const [first, second] = a.split("\n");
      expect(first).toMatch(/^vsock:1 \d+$/);
      expect(second).toBe(`line ${i}`);
    });
    // Each peer port is distinct: one instance per connection.
    expect(new Set(answers.map((a) => a.split("\n")[0])).size).toBe(30);
    for (const c of conns) c.close();
    expect(daemon.log()).toMatch(/vecho@\d+-\d+-1:20001-1:\d+\.service: Started/);
  });

  test("MaxConnectionsPerSource= counts per CID: the 41st connection from CID 1 is refused", async () => {
    // The 30 instances of the test before have ended (their connections no longer count).
    await waitFor(() => (daemon.log().match(/vecho@\S+\.service: Deactivated successfully/g)?.length ?? 0) >= 30, 20000, "the earlier instances to end");
    const held: VsockStream[] = [];
    for (let i = 0; i < 40; i++) {
      const c = await connectVsock(`local:${PORT}`);
      held.push(c);
      await readAll(c, (t) => t.includes("\n"));
    }
    const extra = await connectVsock(`local:${PORT}`);
    const got = await readAll(extra, () => false, 5000).catch((e: Error) => e.message);
    expect(got).toBe(""); // closed by bunit without a service
    // As systemd counts: the refused connection is the 41st.
    await daemon.waitLog(/Too many incoming connections \(41\) from source vsock:1, dropping connection\./, 5000);
    extra.close();
    for (const c of held) c.close();
    await waitFor(() => (daemon.log().match(/vecho@\S+\.service: Deactivated successfully/g)?.length ?? 0) >= 70, 20000, "the held instances to end");
  });

  test("bunit vsock connect bridges stdin and stdout", () => {
    const r = Bun.spawnSync(["bunit", "vsock", "connect", `local:${PORT}`], { stdin: new TextEncoder().encode("from the cli\n") });
    expect(r.exitCode).toBe(0);
    const [first, second] = r.stdout.toString().split("\n");
    expect(first).toMatch(/^vsock:1 \d+$/);
    expect(second).toBe("from the cli");
  });
});

describe("an Accept=no vsock service on bunit's library", () => {
  const port = 20020;
  let daemon: UsbDaemon;
  beforeAll(async () => {
    const dir = mkdtempSync("/tmp/bunit-vsock-no-");
    writeFileSync(join(dir, "vupper.socket"), `[Socket]\nListenStream=vsock::${port}\nFileDescriptorName=echo\n[Install]\nWantedBy=sockets.target\n`);
    writeFileSync(join(dir, "vupper.service"), "[Service]\nExecStart=/usr/bin/bun /opt/bunit/test/guest/vsock-echo-service.ts\n");
    daemon = await UsbDaemon.start(dir);
    await daemon.waitLog(/Reached default\.target/);
  });
  afterAll(async () => {
    await daemon?.stop();
  });

  test("the first connection starts the service, which accepts it and later ones on the passed listener", async () => {
    expect(daemon.log()).not.toContain("vsock-echo-service: listening");
    const a = await connectVsock(`local:${port}`);
    const b = await connectVsock(`local:${port}`);
    await a.write("first\n");
    await b.write("second\n");
    a.end();
    b.end();
    const [ta, tb] = await Promise.all([readAll(a, (t) => t.endsWith("FIRST\n")), readAll(b, (t) => t.endsWith("SECOND\n"))]);
    const pidA = /^pid (\d+) peer 1\n/.exec(ta)?.[1];
    expect(pidA).toBeDefined();
    expect(tb.startsWith(`pid ${pidA} peer 1\n`)).toBe(true); // one process for both
    await daemon.waitLog(new RegExp(`vsock-echo-service: listening on port ${port}`));
    a.close();
    b.close();
  });

  test("fromFd refuses what is not a listening vsock socket", async () => {
    const l = listenVsock(20021);
    const [server, client] = await Promise.all([l.accept(), connectVsock("local:20021")]);
    expect(() => VsockListener.fromFd(client.fd)).toThrow(`fd ${client.fd} (vsock port`);
    expect(() => VsockListener.fromFd(client.fd)).toThrow("is not listening");
    expect(() => VsockListener.fromFd(0)).toThrow(/fd 0 is not an AF_VSOCK socket|non-socket/);
    expect(() => VsockListener.fromListenFds({ fds: [{ fd: 0, name: "stdin" }] })).toThrow("no vsock socket in LISTEN_FDS (stdin)");
    expect(VsockListener.fromFd(l.fd).port).toBe(20021);
    server.close();
    client.close();
    l.close();
  });
});

describe("the vsock TS API and bunit vsock listen", () => {
  test("listenVsock and connectVsock exchange data both ways", async () => {
    const l = listenVsock(20010);
    const [server, client] = await Promise.all([l.accept(), connectVsock("local:20010")]);
    expect(server.peer?.cid).toBe(1);
    await client.write("ping");
    expect(await readAll(server, (t) => t === "ping")).toBe("ping");
    await server.write("pong".repeat(50_000));
    server.end();
    expect((await readAll(client, (t) => t.length >= 200_000)).length).toBe(200_000);
    client.close();
    server.close();
    l.close();
  });

  test("bunit vsock listen accepts one connection and bridges it", async () => {
    const p = Bun.spawn(["bunit", "vsock", "listen", "20011"], { stdin: new TextEncoder().encode("hello from listen\n"), stdout: "pipe", stderr: "pipe" });
    let c: VsockStream | undefined;
    await waitFor(
      async () => {
        c = await connectVsock("local:20011").catch(() => undefined);
        return !!c;
      },
      15000,
      "bunit vsock listen to accept",
    );
    expect(await readAll(c!, (t) => t.includes("\n"))).toBe("hello from listen\n");
    await c!.write("back\n");
    c!.close();
    expect(await p.exited).toBe(0);
    expect(await new Response(p.stdout).text()).toBe("back\n");
    expect(await new Response(p.stderr).text()).toMatch(/connection from 1:\d+/);
  });
});
