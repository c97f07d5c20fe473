/**
 * Host<->guest vsock through bunit's vhost-user back-end (`bunit vsock host`), on the HOST: it
 * boots the QEMU board itself with vhost-user-vsock-pci (no /dev/vhost-vsock needed), starts a
 * bunit daemon in the guest with vsock units, and talks to them from host programs through the
 * back-end's unix socket, as a HIL rig would. test/guest/run.ts runs the *.host.test.ts files
 * here after the in-guest ones; alone: flock /tmp/bunit-heavy.lock bun test test/guest/vsock-host.host.test.ts
 *
 * Inside the guest CID 2 is this host's back-end, so the guest's connections to it stay in
 * this test (the host's own vsock, CID 2 of the machine, is never used).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { buildImage } from "../../scripts/build-image.ts";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Guest, VHOST_USER_GUEST_CID, VsockBackend } from "../../scripts/lib/qemu.ts";
import { connectVsock } from "../../firmware/lib/vsock.ts";
import { streamPattern } from "./vsock-stream-service.ts";
import { guestToHost, listenOnce, readAll, waitUntil } from "./vsock-support.ts";

const ECHO_PORT = 20100;
const STREAM_PORT = 20300;
const HOST_PORT = 20400;
const UNITS = "/tmp/vhost-units";
const MiB = 1 << 20;
/** Connections served by the Accept=yes socket, and MiB streamed each way. */
const CONNECTIONS = Number(process.env.BUNIT_VSOCK_CONNECTIONS ?? 50);
const STREAM_MIB = Number(process.env.BUNIT_VSOCK_MIB ?? 100);

let guest: Guest;
/** The image booted in beforeAll (built once per run: a second build could see files mid-edit). */
let img: Awaited<ReturnType<typeof buildImage>>;
const target = (port: number) => `unix:${guest.vsockUds}:${port}`;

beforeAll(async () => {
  img = await buildImage("qemu-x86_64");
  guest = await Guest.boot(img, { mode: "none", vsock: "vhost-user" });
  expect(guest.vsockUds).not.toBeNull();
  await guest.sh(`mkdir -p ${UNITS}`);
  await guest.write(
    `${UNITS}/vecho.socket`,
    `[Socket]\nListenStream=vsock::${ECHO_PORT}\nAccept=yes\nMaxConnections=64\nTriggerLimitIntervalSec=0\nPollLimitIntervalSec=0\n[Install]\nWantedBy=sockets.target\n`,
  );
  await guest.write(`${UNITS}/vecho@.service`, `[Service]\nExecStart=/bin/sh -c 'echo "$REMOTE_ADDR"; exec cat'\nStandardInput=socket\n`);
  await guest.write(`${UNITS}/vstream.socket`, `[Socket]\nListenStream=vsock::${STREAM_PORT}\nFileDescriptorName=stream\n[Install]\nWantedBy=sockets.target\n`);
  await guest.write(`${UNITS}/vstream.service`, "[Service]\nExecStart=/usr/bin/bun /opt/bunit/test/guest/vsock-stream-service.ts\n");
  await guest.sh(
    `setsid /usr/bin/bun /usr/lib/bunit/firmware/cli.ts daemon --units ${UNITS} --control ${UNITS}.control/control > /tmp/vhost-daemon.log 2>&1 < /dev/null &`,
  );
  await waitUntil(
    "the guest's daemon to reach default.target",
    async () => (await guest.sh("cat /tmp/vhost-daemon.log")).includes("Reached default.target"),
    60_000,
  );
}, 300_000);

afterAll(async () => {
  await guest?.shutdown();
});

describe("host<->guest vsock through bunit's vhost-user back-end", () => {
  test(`an Accept=yes socket in the guest serves ${CONNECTIONS} connections from host programs`, async () => {
    const t0 = performance.now();
    const answers: string[] = [];
    // In waves of 10: each connection starts a service instance in the emulated guest.
    for (let base = 0; base < CONNECTIONS; base += 10) {
      const wave = Array.from({ length: Math.min(10, CONNECTIONS - base) }, async (_, j) => {
        const i = base + j;
        const s = await connectVsock(target(ECHO_PORT), { timeoutMs: 30_000 });
        await s.write(`line ${i}\n`);
        s.end();
        const text = new TextDecoder().decode(await readAll(s));
        s.close();
        answers[i] = text;
      });
      await Promise.all(wave);
    }
    const ms = performance.now() - t0;
    answers.forEach((a, i) => expect(a).toBe(`vsock:2\nline ${i}\n`));
    console.log(`vsock host: ${CONNECTIONS} Accept=yes connections in ${(ms / 1000).toFixed(1)} s (${((CONNECTIONS * 1000) / ms).toFixed(1)}/s)`);
  }, 300_000);

  test(`an Accept=no service streams ${STREAM_MIB} MiB to the host intact`, async () => {
    const chunk = streamPattern();
    const expected = new Bun.CryptoHasher("sha256");
    for (let k = 0; k < STREAM_MIB; k++) expected.update(chunk(k));
    const s = await connectVsock(target(STREAM_PORT), { timeoutMs: 30_000 });
    await s.write(`SEND ${STREAM_MIB * MiB}\n`);
    const h = new Bun.CryptoHasher("sha256");
    let got = 0;
    let t0 = 0;
    for await (const c of s.readable) {
      if (!t0) t0 = performance.now();
      h.update(c);
      got += c.length;
      if (got >= STREAM_MIB * MiB) break;
    }
    const ms = performance.now() - t0;
    s.end();
    s.close();
    expect(got).toBe(STREAM_MIB * MiB);
    expect(h.digest("hex")).toBe(expected.digest("hex"));
    console.log(`vsock host: guest -> host ${STREAM_MIB} MiB in ${(ms / 1000).toFixed(1)} s = ${((STREAM_MIB * 1000) / ms).toFixed(1)} MiB/s`);
  }, 600_000);

  test(`the host streams ${STREAM_MIB} MiB to the Accept=no service intact`, async () => {
    const chunk = streamPattern();
    const expected = new Bun.CryptoHasher("sha256");
    const s = await connectVsock(target(STREAM_PORT), { timeoutMs: 30_000 });
    await s.write(`RECV ${STREAM_MIB * MiB}\n`);
    const t0 = performance.now();
    for (let k = 0; k < STREAM_MIB; k++) {
      const c = chunk(k);
      expected.update(c);
      await s.write(c);
    }
    s.end();
    const answer = new TextDecoder().decode(await readAll(s, 300_000));
    const ms = performance.now() - t0;
    s.close();
    expect(answer).toBe(`sha256 ${expected.digest("hex")} ${STREAM_MIB * MiB}\n`);
    console.log(
      `vsock host: host -> guest ${STREAM_MIB} MiB in ${(ms / 1000).toFixed(1)} s = ${((STREAM_MIB * 1000) / ms).toFixed(1)} MiB/s (with the guest's sha256)`,
    );
  }, 600_000);

  test("the same exchanges inside the guest over loopback, for comparison", async () => {
    const out = await guest.sh(`/usr/bin/bun /opt/bunit/test/guest/vsock-stream-service.ts loopback-client ${STREAM_PORT} ${STREAM_MIB}`, {
      timeoutMs: 600_000,
    });
    const r = JSON.parse(out.trim().split("\n").pop()!) as { recvMiBps: number; sendMiBps: number };
    expect(r.recvMiBps).toBeGreaterThan(0);
    console.log(
      `vsock loopback in the guest: service -> client ${r.recvMiBps.toFixed(1)} MiB/s, client -> service ${r.sendMiBps.toFixed(1)} MiB/s (with the service's sha256)`,
    );
  }, 600_000);

  test("a guest program reaches a host listener through CID 2", async () => {
    expect(await guestToHost(guest, HOST_PORT, "ping-from-guest")).toEqual({ host: "ping-from-guest\n", guest: "pong to ping-from-guest\n" });
    // Nothing listens on the next port: the guest's connect is refused.
    const r = await guest.run(["/bin/sh", "-c", `bunit vsock connect 2:${HOST_PORT + 1} < /dev/null`], { timeoutMs: 30_000 });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/Connection reset|refused/i);
  }, 120_000);

  test("a host writing garbage to the unix socket gets an error; an open connection is not harmed", async () => {
    const held = await connectVsock(target(ECHO_PORT), { timeoutMs: 30_000 });
    const reader = held.readable.getReader();
    expect(new TextDecoder().decode((await reader.read()).value)).toBe("vsock:2\n");
    for (const garbage of ["GET / HTTP/1.0\r\n\r\n", "CONNECT\n", "CONNECT 99999999999\n", "\x00\xff".repeat(100)]) {
      let answer = "";
      const raw = await Bun.connect({ unix: guest.vsockUds!, socket: { data: (_s, d) => void (answer += Buffer.from(d).toString()) } });
      raw.write(garbage);
      await waitUntil("the back-end's answer", async () => answer.includes("\n"), 10_000);
      expect(answer).toStartWith("ERR ");
      raw.end();
    }
    await expect(connectVsock(target(ECHO_PORT + 7), { timeoutMs: 30_000 })).rejects.toThrow(/reset by the guest/);
    await held.write("still alive\n");
    expect(new TextDecoder().decode((await reader.read()).value)).toBe("still alive\n");
    reader.releaseLock();
    held.close();
  }, 120_000);
});

describe("the back-end across resets", () => {
  test("the guest's virtio-vsock driver resets the device (as a reboot does): the Accept=yes socket answers again", async () => {
    // Unbinding the driver resets the device the way a reboot does (QEMU stops the back-end's
    // rings, then sets them up again when the driver binds); connections open at the time end.
    const held = await connectVsock(target(ECHO_PORT), { timeoutMs: 30_000 });
    const drv = "/sys/bus/virtio/drivers/vmw_vsock_virtio_transport";
    await guest.sh(`d=$(basename ${drv}/virtio*) && echo $d > ${drv}/unbind && echo $d > ${drv}/bind`);
    const t0 = performance.now();
    expect(new TextDecoder().decode(await readAll(held, 20_000))).toMatch(/^(vsock:2\n)?$/); // ended by the reset
    expect(performance.now() - t0).toBeLessThan(15_000);
    held.close();
    const s = await connectVsock(target(ECHO_PORT), { timeoutMs: 30_000 });
    await s.write("after the reset\n");
    s.end();
    expect(new TextDecoder().decode(await readAll(s))).toBe("vsock:2\nafter the reset\n");
    s.close();
    expect(await listenOnce(guest, 20500, "listen after the reset")).toBe("listen after the reset\n");
  }, 120_000);

  test("the back-end restarts in place (SIGHUP: it execs itself with the session handed over): the next connection works", async () => {
    const b = guest.vsockBackend!;
    const pid = b.proc!.pid;
    const held = await connectVsock(target(ECHO_PORT), { timeoutMs: 30_000 });
    const from = b.log.length;
    b.proc!.kill("SIGHUP");
    await waitUntil("the new process image to take the session over", async () => b.log.slice(from).some((l) => l.includes("took over session 1")), 30_000);
    expect(b.proc!.pid).toBe(pid);
    await readAll(held, 20_000); // reset by the restart
    held.close();
    const s = await connectVsock(target(ECHO_PORT), { timeoutMs: 30_000 });
    await s.write("after the restart\n");
    s.end();
    expect(new TextDecoder().decode(await readAll(s))).toBe("vsock:2\nafter the restart\n");
    s.close();
  }, 120_000);

  test("QEMU restarts against the same back-end process: the next guest is served", async () => {
    const dir = mkdtempSync(join(tmpdir(), "bunit-vsock-restart-"));
    const backend = new VsockBackend(join(dir, "vhost.sock"), join(dir, "v.sock"), VHOST_USER_GUEST_CID);
    await backend.start();
    try {
      for (const run of ["first QEMU", "second QEMU"]) {
        const g = await Guest.boot(img, { mode: "none", vsockBackend: backend });
        try {
          expect(g.vsockUds).toBe(backend.uds);
          expect(await listenOnce(g, 20600, run)).toBe(`${run}\n`);
        } finally {
          await g.shutdown();
        }
      }
      expect(backend.log.filter((l) => l.includes("front-end connected")).length).toBe(2);
    } finally {
      await backend.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 300_000);
});
