import { expect, test } from "bun:test";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as n from "../native.ts";
import { AF_UNIX, EPOLLIN as POLLIN, EPOLLOUT as POLLOUT, O_RDONLY, O_RDWR, SOCK_CLOEXEC, SOCK_NONBLOCK, SOCK_STREAM } from "../sys/constants.ts";
import { AioContext } from "./aio.ts";

const openFds = () => readdirSync("/proc/self/fd").length;

async function until(what: string, cond: () => boolean): Promise<void> {
  const deadline = Date.now() + 2000;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(1);
  }
}

for (const completions of ["loop", "watcher"] as const) {
  test(`AIO reads and writes complete through the eventfd (completions: ${completions})`, async () => {
    const dir = mkdtempSync(join(tmpdir(), "bunit-aio-"));
    const path = join(dir, "f");
    writeFileSync(path, "");
    const watcher = n.fdWatcher(); // its epoll fd and pipe stay open
    const before = openFds();
    const aio = new AioContext(watcher, 8, { completions });
    const fd = n.open(path, O_RDWR);
    const buf = n.allocNative(4096);
    buf.bytes.set(new TextEncoder().encode("hello aio"));
    expect(await aio.submit("write", fd, buf, 9, "write f")).toBe(9);
    expect(readFileSync(path, "utf8")).toBe("hello aio");
    const rfd = n.open(path, O_RDONLY);
    const rbuf = n.allocNative(4096);
    const results = await Promise.all([aio.submit("read", rfd, rbuf, 4096, "read f")]);
    expect(results).toEqual([9]);
    expect(new TextDecoder().decode(rbuf.bytes.subarray(0, 9))).toBe("hello aio");
    // A bad fd is a rejected promise with errno.
    await expect(aio.submit("read", 9999, rbuf, 10, "read bad")).rejects.toThrow(/EBADF/);
    expect(aio.inFlight).toBe(0);
    aio.close();
    await expect(aio.submit("read", rfd, rbuf, 1, "after close")).rejects.toThrow(/closed/);
    n.close(fd);
    n.close(rfd);
    buf.free();
    rbuf.free();
    rmSync(dir, { recursive: true });
    // The eventfd is closed too (with "loop" once Bun's reader has let go of it).
    await until("the eventfd closed", () => openFds() === before);
  });
}

test("many requests at once: every callback once, with its own result; a full context says EBUSY", async () => {
  const aio = new AioContext(n.fdWatcher(), 16);
  const zero = n.open("/dev/zero", O_RDONLY);
  const bufs = Array.from({ length: 16 }, () => n.allocNative(4096));
  const got: number[] = [];
  bufs.forEach((b, i) => aio.start("read", zero, b.ptr, 100 + i, (res) => got.push(res)));
  expect(aio.available).toBe(0);
  expect(() => aio.start("read", zero, bufs[0]!.ptr, 1, () => {})).toThrow(/EBUSY/);
  await until("16 completions", () => got.length === 16);
  expect(got.sort((a, b) => a - b)).toEqual(Array.from({ length: 16 }, (_, i) => 100 + i));
  expect(aio.inFlight).toBe(0);
  expect(aio.available).toBe(16);
  aio.close();
  n.close(zero);
  for (const b of bufs) b.free();
});

test("poll(): completes once when the fd becomes ready (at once if it is), cancel() ends a waiting one", async () => {
  const aio = new AioContext(n.fdWatcher(), 4);
  const [a, b] = n.socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC);
  const got: number[] = [];
  aio.poll(a, POLLIN, (res) => got.push(res));
  await Bun.sleep(20);
  expect(got).toEqual([]); // nothing to read yet
  n.send(b, new Uint8Array([1]));
  await until("the poll's completion", () => got.length === 1);
  expect(got[0]! & POLLIN).toBe(POLLIN);
  // Writable already: completes at once.
  aio.poll(a, POLLOUT, (res) => got.push(res));
  await until("the second completion", () => got.length === 2);
  expect(got[1]! & POLLOUT).toBe(POLLOUT);
  // A poll that waits can be cancelled; its callback says so.
  n.recv(a, new Uint8Array(1));
  const slot = aio.poll(a, POLLIN, (res) => got.push(res));
  aio.cancel(slot);
  await until("the cancelled poll's callback", () => got.length === 3);
  expect(got[2]).toBe(0); // no events: the kernel ends a cancelled poll with an empty mask
  expect(aio.inFlight).toBe(0);
  aio.close();
  n.close(a);
  n.close(b);
});
