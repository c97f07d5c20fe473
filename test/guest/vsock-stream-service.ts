/**
 * An Accept=no vsock service for the host<->guest tests (vsock-host.host.test.ts): each
 * connection starts with a line, "SEND N" (the service writes N bytes of the test pattern,
 * then shuts its sending side) or "RECV N" (it reads N bytes and answers "sha256 HEX N").
 * The pattern is streamPattern() below, shared with the host side. `bun vsock-stream-service.ts
 * loopback-client PORT MIB` runs both exchanges from inside the guest over loopback instead.
 */
import { VsockListener, type VsockStream } from "../../firmware/lib/vsock.ts";

const MiB = 1 << 20;

/** Chunk k (1 MiB) of the test pattern: a seeded xorshift block whose first 4 bytes are k. */
export function streamPattern(): (k: number) => Uint8Array {
  const base = new Uint32Array(MiB / 4);
  let x = 0x9e3779b9;
  for (let i = 0; i < base.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    base[i] = x >>> 0;
  }
  const bytes = new Uint8Array(base.buffer);
  return (k) => {
    const c = bytes.slice();
    new DataView(c.buffer).setUint32(0, k, true);
    return c;
  };
}

async function serve(c: VsockStream, chunk: (k: number) => Uint8Array): Promise<void> {
  const reader = c.readable.getReader();
  let head = new Uint8Array(0);
  let nl = -1;
  while (nl < 0) {
    const r = await reader.read();
    if (r.done) return c.close();
    const j = new Uint8Array(head.length + r.value.length);
    j.set(head);
    j.set(r.value, head.length);
    head = j;
    nl = head.indexOf(0x0a);
  }
  const [cmd, arg] = new TextDecoder().decode(head.subarray(0, nl)).split(" ");
  const total = Number(arg);
  if (cmd === "SEND") {
    for (let k = 0, left = total; left > 0; k++, left -= MiB) await c.write(left >= MiB ? chunk(k) : chunk(k).subarray(0, left));
    c.end();
  } else if (cmd === "RECV") {
    const h = new Bun.CryptoHasher("sha256");
    let got = head.length - nl - 1;
    h.update(head.subarray(nl + 1));
    while (got < total) {
      const r = await reader.read();
      if (r.done) break;
      h.update(r.value);
      got += r.value.length;
    }
    await c.write(`sha256 ${h.digest("hex")} ${got}\n`);
    c.end();
  } else {
    await c.write(`unknown command ${cmd}\n`);
  }
  reader.releaseLock();
  // Wait for the peer's EOF before closing, so nothing written is lost to a reset.
  for await (const _ of c.readable);
  c.close();
}

/**
 * The same exchange from a client inside the guest over the loopback transport (CID 1), to
 * compare with the host's figures: prints {"recvMiBps","sendMiBps"} as JSON.
 */
async function loopbackClient(port: number, mib: number): Promise<void> {
  const { connectVsock } = await import("../../firmware/lib/vsock.ts");
  const chunk = streamPattern();
  const a = await connectVsock(`local:${port}`);
  await a.write(`SEND ${mib * MiB}\n`);
  let got = 0;
  let t0 = 0;
  for await (const c of a.readable) {
    if (!t0) t0 = performance.now();
    got += c.length;
    if (got >= mib * MiB) break;
  }
  const recvMs = performance.now() - t0;
  a.close();
  const b = await connectVsock(`local:${port}`);
  await b.write(`RECV ${mib * MiB}\n`);
  const t1 = performance.now();
  for (let k = 0; k < mib; k++) await b.write(chunk(k));
  b.end();
  for await (const _ of b.readable);
  const sendMs = performance.now() - t1;
  b.close();
  console.log(JSON.stringify({ recvMiBps: (mib * 1000) / recvMs, sendMiBps: (mib * 1000) / sendMs }));
}

if (import.meta.main && process.argv[2] === "loopback-client") {
  await loopbackClient(Number(process.argv[3]), Number(process.argv[4]));
  process.exit(0);
} else if (import.meta.main) {
  const listener = VsockListener.fromListenFds({ name: "stream" });
  console.error(`vsock-stream-service: listening on port ${listener.port}`);
  const chunk = streamPattern();
  for (;;) {
    const c = await listener.accept();
    void serve(c, chunk).catch((e) => console.error(`vsock-stream-service: ${e}`));
  }
}
