import { expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as n from "../native.ts";
import { O_RDONLY, O_RDWR } from "../sys/constants.ts";
import { AioContext } from "./aio.ts";

test("AIO reads and writes complete through the eventfd and the fd watcher", async () => {
  const dir = mkdtempSync(join(tmpdir(), "bunit-aio-"));
  const path = join(dir, "f");
  writeFileSync(path, "");
  const aio = new AioContext(8);
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
});
