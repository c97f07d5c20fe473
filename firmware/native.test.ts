import { describe, expect, test } from "bun:test";
import * as n from "./native.ts";
import { AF_UNIX, AF_INET, SOCK_STREAM, SOCK_DGRAM, EPOLLIN, SOL_SOCKET, SO_ACCEPTCONN, SO_RCVBUF } from "./sys/constants.ts";
import { SysError } from "./sys/errno.ts";
import { parseIPv4 } from "./sys/ip.ts";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "node:net";

describe("native boundary", () => {
  test("unix stream socket: bind, listen, readiness through the watcher, accept with peer credentials", async () => {
    const dir = mkdtempSync(join(tmpdir(), "bunit-native-"));
    const path = join(dir, "s");
    const fd = n.socket(AF_UNIX, SOCK_STREAM);
    n.bind(fd, { family: "unix", path, abstract: false });
    n.listen(fd, 16);
    expect(n.getsockoptInt(fd, SOL_SOCKET, SO_ACCEPTCONN)).toBe(1);
    expect(n.accept(fd, 0)).toBeNull();
    const ready = n.whenReady(fd, EPOLLIN);
    const client = connect(path);
    expect((await ready) & EPOLLIN).toBe(EPOLLIN);
    const got = n.accept(fd, 0)!;
    expect(got.fd).toBeGreaterThan(2);
    const cred = n.peercred(got.fd);
    expect(cred.pid).toBe(process.pid);
    expect(cred.uid).toBe(process.getuid!());
    n.close(got.fd);
    n.close(fd);
    client.destroy();
    rmSync(dir, { recursive: true });
  });

  test("sameOpenFile: a dup is the same open file; the other end of a pipe (same inode) is not", () => {
    const [r, w] = n.pipe();
    const d = n.dupCloexec(r);
    try {
      expect(n.sameOpenFile(r, d)).toBe(true);
      expect(n.sameOpenFile(r, w)).toBe(false);
      expect(() => n.sameOpenFile(r, 100000)).toThrow(/kcmp/);
    } finally {
      for (const fd of [r, w, d]) n.close(fd);
    }
  });

  test("errors carry errno names and the failing call", () => {
    const fd = n.socket(AF_INET, SOCK_DGRAM);
    n.bind(fd, { family: "inet", addr: parseIPv4("127.0.0.1")!, port: 0 });
    const port = (n.getsockname(fd) as { port: number }).port;
    const fd2 = n.socket(AF_INET, SOCK_DGRAM);
    try {
      n.bind(fd2, { family: "inet", addr: parseIPv4("127.0.0.1")!, port }, "127.0.0.1:" + port);
      throw new Error("bind should have failed");
    } catch (e) {
      expect(e).toBeInstanceOf(SysError);
      expect((e as SysError).code).toBe("EADDRINUSE");
      expect((e as Error).message).toContain("bind 127.0.0.1:" + port);
    }
    n.setsockoptInt(fd, SOL_SOCKET, SO_RCVBUF, 65536);
    expect(n.getsockoptInt(fd, SOL_SOCKET, SO_RCVBUF)).toBe(131072);
    n.close(fd);
    n.close(fd2);
  });
});
