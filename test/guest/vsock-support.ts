/** Helpers for the host-side vsock tests (*.host.test.ts): reading a stream, one round trip to a guest listener, polling. */
import { connectVsock, type VsockStream } from "../../firmware/lib/vsock.ts";
import type { Guest } from "../../scripts/lib/qemu.ts";

/** Everything the stream delivers until its end (or until timeoutMs, when it is closed). */
export async function readAll(s: VsockStream, timeoutMs = 60_000): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  const deadline = setTimeout(() => s.close(), timeoutMs);
  for await (const c of s.readable) parts.push(c);
  clearTimeout(deadline);
  return Buffer.concat(parts);
}

export async function waitUntil(what: string, cond: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await Bun.sleep(100);
  }
}

/** Connects to guest port `port` through the guest's back-end, retrying until something listens there. */
export async function connectRetrying(g: Guest, port: number, timeoutMs = 30_000): Promise<VsockStream> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const s = await connectVsock(`unix:${g.vsockUds}:${port}`, { timeoutMs: 10_000 }).catch((e: Error) => {
      if (Date.now() > end) throw e;
      return undefined;
    });
    if (s) return s;
    await Bun.sleep(200);
  }
}

/** One connection from the host to a `bunit vsock listen` in guest g: what the guest program received. */
export async function listenOnce(g: Guest, port: number, tag: string): Promise<string> {
  const srv = g.run(["/bin/sh", "-c", `timeout 30 bunit vsock listen ${port} < /dev/null`], { timeoutMs: 60_000 });
  const s = await connectRetrying(g, port);
  await s.write(`${tag}\n`);
  s.end();
  await readAll(s);
  s.close();
  return (await srv).stdout;
}

/** A guest program connects to CID 2 port `port` (a unix listener at `${uds}_${port}` here): what each side got. */
export async function guestToHost(g: Guest, port: number, tag: string): Promise<{ host: string; guest: string }> {
  let got = "";
  const l = Bun.listen({
    unix: `${g.vsockUds}_${port}`,
    socket: {
      data(sock, d) {
        got += Buffer.from(d).toString();
        if (got.endsWith("\n")) {
          sock.write(`pong to ${got}`);
          sock.end();
        }
      },
    },
  });
  try {
    const out = await g.sh(`echo ${tag} | bunit vsock connect 2:${port}`, { timeoutMs: 30_000 });
    return { host: got, guest: out };
  } finally {
    l.stop(true);
  }
}
