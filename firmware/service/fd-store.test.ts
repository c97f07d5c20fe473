import { describe, expect, test } from "bun:test";
import { FdStore, fdStoreAnswer, type FdStoreKernel } from "./fd-store.ts";

/** fds with the same file number (fd % 100) are one open file description; fds >= 500 cannot be polled. */
class FakeKernel implements FdStoreKernel {
  closed: number[] = [];
  watched = new Map<number, (revents: number) => void>();
  close(fd: number): void {
    this.closed.push(fd);
    this.watched.delete(fd);
  }
  sameFile(a: number, b: number): boolean | null {
    return a % 100 === b % 100;
  }
  watchHangup(fd: number, onHangup: (revents: number) => void): boolean {
    if (fd >= 500) return false;
    this.watched.set(fd, onHangup);
    return true;
  }
}

describe("fd store", () => {
  test("holds at most FileDescriptorStoreMax fds and closes the rest; removes by name", () => {
    const k = new FakeKernel();
    const s = new FdStore(3, k);
    expect(s.add("a", [10, 11])).toEqual({ stored: 2, refused: 0, duplicates: 0 });
    expect(s.add("b", [12, 13])).toEqual({ stored: 1, refused: 1, duplicates: 0 });
    expect(k.closed).toEqual([13]);
    expect(s.names()).toEqual(["b", "a", "a"]); // newest first, as systemd
    expect(s.remove("a")).toBe(2);
    expect(k.closed).toEqual([13, 11, 10]);
    s.clear();
    expect(s.size).toBe(0);
    expect(k.closed).toEqual([13, 11, 10, 12]);
  });

  test("an fd that is the same open file as a stored one is closed as a duplicate (systemd's same_fd())", () => {
    const k = new FakeKernel();
    const s = new FdStore(8, k);
    expect(s.add("a", [10, 110])).toEqual({ stored: 1, refused: 0, duplicates: 1 });
    expect(s.add("b", [210, 11])).toEqual({ stored: 1, refused: 0, duplicates: 1 });
    expect(k.closed).toEqual([110, 210]);
    expect(s.list().map((e) => e.fd)).toEqual([11, 10]);
    // A kernel that cannot tell keeps both.
    const unsure = new FdStore(8, { ...k, close: (fd) => k.close(fd), watchHangup: () => true, sameFile: () => null });
    expect(unsure.add("a", [20, 120])).toEqual({ stored: 2, refused: 0, duplicates: 0 });
  });

  test("a full store refuses before it looks for duplicates, as systemd", () => {
    const k = new FakeKernel();
    const s = new FdStore(1, k);
    s.add("a", [10]);
    expect(s.add("a", [110])).toEqual({ stored: 0, refused: 1, duplicates: 0 });
  });

  test("a stored fd reporting POLLHUP or POLLERR is closed and forgotten; FDPOLL=0 and unpollable fds are not watched", () => {
    const k = new FakeKernel();
    const s = new FdStore(8, k);
    const dropped: string[] = [];
    s.onHangup = (e, rev) => dropped.push(`${e.name}:${e.fd}:${rev}`);
    s.add("peer", [10, 11]);
    s.add("quiet", [12], false);
    s.add("file", [513]);
    expect([...k.watched.keys()]).toEqual([10, 11]);
    expect(s.list().map((e) => `${e.fd}:${e.poll}`)).toEqual(["513:true", "12:false", "11:true", "10:true"]);
    k.watched.get(11)!(0x10);
    expect(s.names()).toEqual(["file", "quiet", "peer"]);
    expect(k.closed).toEqual([11]);
    expect(dropped).toEqual(["peer:11:16"]);
    // A report for an fd removed meanwhile changes nothing.
    const late = k.watched.get(10)!;
    s.remove("peer");
    late(0x10);
    expect(dropped).toEqual(["peer:11:16"]);
    expect(k.closed).toEqual([11, 10]);
  });

  test("fdstore's answer: a store that is off and empty is an error; one that is on, or still holds fds, a list", () => {
    expect(fdStoreAnswer("a.service", 0, [])).toBe("File descriptor store not enabled for a.service.");
    expect(fdStoreAnswer("a.service", 0, [7])).toEqual([7]);
    expect(fdStoreAnswer("a.service", 2, [])).toEqual([]);
  });
});
