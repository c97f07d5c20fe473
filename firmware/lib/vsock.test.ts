import { afterEach, expect, test } from "bun:test";
import * as n from "../native.ts";
import { AF_UNIX, SOCK_CLOEXEC, SOCK_NONBLOCK, SOCK_STREAM } from "../sys/constants.ts";
import { VsockStream } from "./vsock.ts";

/** A VsockStream works on any connected stream socket: a unix socketpair stands in for vsock. */
const streams: VsockStream[] = [];
afterEach(() => {
  for (const s of streams.splice(0)) s.close();
});
function pair(): [VsockStream, VsockStream] {
  const [a, b] = n.socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC);
  const s = [new VsockStream(a, null), new VsockStream(b, null)] as [VsockStream, VsockStream];
  streams.push(...s);
  return s;
}

const bytes = (len: number, seed: number) => Uint8Array.from({ length: len }, (_, i) => (i * 7 + seed) & 0xff);

test("chunks(): copies by default, views of one reused buffer with views; the data arrives whole and in order", async () => {
  for (const views of [false, true]) {
    const [a, b] = pair();
    const data = bytes(3 * 65536 + 123, views ? 1 : 2);
    const sent = (async () => {
      for (let o = 0; o < data.length; o += 10000) await a.write(data.subarray(o, o + 10000));
      a.end();
    })();
    const got: Uint8Array[] = [];
    const buffers = new Set<ArrayBufferLike>();
    for await (const c of b.chunks({ size: 4096, views })) {
      expect(c.length).toBeLessThanOrEqual(4096);
      buffers.add(c.buffer);
      got.push(c.slice());
    }
    await sent;
    expect(Buffer.concat(got).equals(Buffer.from(data))).toBe(true);
    if (views) expect(buffers.size).toBe(1);
    else expect(buffers.size).toBe(got.length);
  }
});

test("write() waits for room (the peer reads slowly) and read() fills a caller's buffer, 0 at EOF", async () => {
  const [a, b] = pair();
  const data = bytes(4 << 20, 3); // far more than the socket buffers hold
  const sent = a.write(data).then(() => a.end());
  const buf = new Uint8Array(1000);
  let total = 0;
  let ok = true;
  for (;;) {
    const got = await b.read(buf);
    if (got === 0) break;
    for (let i = 0; i < got; i++) if (buf[i] !== data[total + i]) ok = false;
    total += got;
  }
  await sent;
  expect(ok).toBe(true);
  expect(total).toBe(data.length);
});

test("readable: a ReadableStream of the same input, made once", async () => {
  const [a, b] = pair();
  expect(b.readable).toBe(b.readable);
  await a.write("hello ");
  await a.write("vsock");
  a.end();
  let text = "";
  for await (const c of b.readable) text += new TextDecoder().decode(c);
  expect(text).toBe("hello vsock");
});

test("close() while a read waits: the socket is really closed (the peer reads EOF), the wait stays pending", async () => {
  const [a, b] = pair();
  let ended = false;
  void (async () => {
    for await (const _ of b.chunks()) {
      // nothing arrives
    }
    ended = true;
  })();
  await Bun.sleep(20); // the read is waiting now
  b.close();
  // The pending wait held the file; close() let go of it, so the peer sees the end at once.
  const buf = new Uint8Array(16);
  const deadline = Date.now() + 2000;
  let got: number | null = null;
  while (got === null && Date.now() < deadline) {
    got = n.recv(a.fd, buf);
    if (got === null) await Bun.sleep(2);
  }
  expect(got).toBe(0);
  expect(ended).toBe(false);
});
