import { describe, expect, test } from "bun:test";
import { type FdStoreIo, remapState, SessionStore, stateFds } from "./session-store.ts";
import type { VsockHostState } from "./host-state.ts";

/**
 * A process's fd table and a manager's store in memory. An fd number points at a file (a
 * number here); a copy (SCM_RIGHTS, dup) is a new number for the same file. Files 1xxx are
 * eventfds (no identity of their own). With `refusesDuplicates` the manager behaves like
 * systemd (same_fd()): a file it already holds is not stored again.
 */
class FakeWorld implements FdStoreIo {
  private nextFd = 100;
  private nextFile = 5000;
  /** fd number (any process) -> file */
  file = new Map<number, number>();
  notes = new Map<number, string>();
  /** name -> the manager's fd */
  entries = new Map<string, number>();
  refusesDuplicates = false;
  open = new Set<number>();

  /** A new file at a given fd number (what QEMU sends or a socket the back-end makes). */
  make(fd: number, file = this.nextFile++): number {
    this.file.set(fd, file);
    this.open.add(fd);
    return fd;
  }
  private copy(fd: number): number {
    const c = this.nextFd++;
    this.file.set(c, this.file.get(fd)!);
    this.open.add(c);
    return c;
  }
  store(name: string, fd: number): void {
    if (this.refusesDuplicates && [...this.entries.values()].some((e) => this.file.get(e) === this.file.get(fd))) return;
    this.entries.set(name, this.copy(fd));
  }
  remove(name: string): void {
    const fd = this.entries.get(name);
    if (fd !== undefined) this.open.delete(fd);
    this.entries.delete(name);
  }
  note(text: string): number {
    const fd = this.make(this.nextFd++);
    this.notes.set(this.file.get(fd)!, text);
    return fd;
  }
  readNote(fd: number): string {
    const t = this.notes.get(this.file.get(fd)!);
    if (t === undefined) throw new Error(`fd ${fd} is not a note`);
    return t;
  }
  identity(fd: number): string | null {
    const f = this.file.get(fd)!;
    return f >= 1000 && f < 2000 ? null : `file ${f}`;
  }
  dup(fd: number): number {
    return this.copy(fd);
  }
  close(fd: number): void {
    this.open.delete(fd);
  }
  /** $LISTEN_FDS for the next process: a copy of every entry. */
  pass(): { fd: number; name: string }[] {
    return [...this.entries].map(([name, fd]) => ({ fd: this.copy(fd), name }));
  }
  storedFiles(): number[] {
    return [...this.entries.values()].map((fd) => this.file.get(fd)!).sort();
  }
}

/** A session: sockets 10-12, the guest memory (two regions, one file) 13 and 14, eventfds from 15. */
function session(w: FakeWorld, kick0 = 15): VsockHostState {
  for (const fd of [10, 11, 12]) w.make(fd);
  w.make(13, 4000);
  w.make(14, 4000);
  w.make(kick0, 1000 + kick0);
  w.make(16, 1016);
  w.make(17, 1017);
  return {
    guestCid: 3,
    server: { listenFd: 10, clientFd: 11, sessions: 1 },
    hostListenFd: 12,
    backend: {
      features: "0x150000000",
      protocolFeatures: "0x3",
      memory: [
        { fd: 13, guestAddr: "0x0", size: "0x1000", userAddr: "0x7f0000000000", mmapOffset: "0x0" },
        { fd: 14, guestAddr: "0x100000000", size: "0x1000", userAddr: "0x7f0000100000", mmapOffset: "0x1000" },
      ],
      rings: [
        { num: 128, addr: null, base: 0, kickFd: kick0, callFd: 16, errFd: -1, enabled: true, running: true },
        { num: 128, addr: null, base: 0, kickFd: 17, callFd: 16, errFd: -1, enabled: true },
      ],
    },
    nextLocalPort: 1 << 30,
  };
}

for (const refusesDuplicates of [false, true]) {
  describe(`the session in a file descriptor store (${refusesDuplicates ? "a manager that refuses a file it holds, as systemd" : "bunit's manager"})`, () => {
    const world = () => Object.assign(new FakeWorld(), { refusesDuplicates });

    test("stateFds lists each fd once; remapState replaces every one", () => {
      const s = session(world());
      expect(stateFds(s).sort((a, b) => a - b)).toEqual([10, 11, 12, 13, 14, 15, 16, 17]);
      const r = remapState(s, (fd) => fd + 100);
      expect(stateFds(r).sort((a, b) => a - b)).toEqual([110, 111, 112, 113, 114, 115, 116, 117]);
      expect(r.backend.rings[0]!.errFd).toBe(-1);
    });

    test("each file is stored once; a successor gets the newest session with its own fds, one per number the process had", () => {
      const w = world();
      const first = new SessionStore(w);
      const s = session(w);
      first.save(s);
      // 7 files (the memory's two numbers are one file) and the description.
      expect(w.entries.size).toBe(8);
      // QEMU gives ring 0 a new kick fd: the old one is closed, the new one stored.
      first.closed(15);
      const s2 = { ...s, backend: { ...s.backend, rings: [{ ...s.backend.rings[0]!, kickFd: w.make(18, 1018) }, s.backend.rings[1]!] } };
      first.save(s2);
      expect(w.entries.size).toBe(8);
      expect(w.storedFiles()).not.toContain(1015);
      expect(w.storedFiles()).toContain(1018);

      const next = new SessionStore(w);
      const got = next.restore([{ fd: 3, name: "unrelated" }, ...w.pass()])!;
      expect(got).not.toBeNull();
      const f = (fd: number) => w.file.get(fd);
      expect(f(got.backend.rings[0]!.kickFd)).toBe(1018);
      expect(f(got.server.clientFd)).toBe(f(11));
      expect(got.backend.rings[0]!.callFd).toBe(got.backend.rings[1]!.callFd); // one number, as before
      const [m0, m1] = got.backend.memory.map((m) => m.fd);
      expect(m0).not.toBe(m1); // two numbers, as before (each is closed on its own)
      expect(f(m0!)).toBe(4000);
      expect(f(m1!)).toBe(4000);
      // Its first save stores nothing again and replaces the description.
      const before = w.storedFiles().filter((x) => !w.notes.has(x));
      next.save(got);
      expect(w.storedFiles().filter((x) => !w.notes.has(x))).toEqual(before);
      expect(w.entries.size).toBe(8);
    });

    test("QEMU sends the same memory again (SET_MEM_TABLE): it stays stored, under a name the next description has", () => {
      const w = world();
      const st = new SessionStore(w);
      const s = session(w);
      st.save(s);
      // New numbers for the same file; the old ones are closed.
      w.make(20, 4000);
      w.make(21, 4000);
      st.closed(13);
      st.closed(14);
      const s2 = { ...s, backend: { ...s.backend, memory: s.backend.memory.map((m, i) => ({ ...m, fd: 20 + i })) } };
      st.save(s2);
      expect(w.storedFiles()).toContain(4000);
      const got = new SessionStore(w).restore(w.pass())!;
      expect(got.backend.memory.map((m) => w.file.get(m.fd))).toEqual([4000, 4000]);
    });

    test("a number closed and used again for another file between two saves is stored anew", () => {
      const w = world();
      const st = new SessionStore(w);
      const s = session(w);
      st.save(s);
      st.closed(17);
      w.make(17, 1099); // the next eventfd QEMU sends gets the same number
      st.save(s);
      expect(w.storedFiles()).toContain(1099);
      expect(w.storedFiles()).not.toContain(1017);
      const got = new SessionStore(w).restore(w.pass())!;
      expect(w.file.get(got.backend.rings[1]!.kickFd)).toBe(1099);
    });

    test("a save cut short (files stored, no new description) restores the previous one; the strays go at the next save", () => {
      const w = world();
      const st = new SessionStore(w);
      const s = session(w);
      st.save(s);
      w.store("vhost.fd.90", w.make(30, 1030));
      const passed = w.pass();
      const next = new SessionStore(w);
      const got = next.restore(passed)!;
      expect(w.file.get(got.server.clientFd)).toBe(w.file.get(11));
      const stray = passed.find((p) => p.name === "vhost.fd.90")!;
      expect(w.open.has(stray.fd)).toBe(false);
      next.save(got);
      expect(w.entries.has("vhost.fd.90")).toBe(false);
      expect([...w.entries.keys()].filter((k) => k.startsWith("vhost.state.")).length).toBe(1);
    });

    test("nothing stored: restore gives null; an unreadable or incomplete description is passed over", () => {
      const w = world();
      expect(new SessionStore(w).restore([])).toBeNull();
      const bad = w.note("{not json");
      expect(new SessionStore(w).restore([{ fd: bad, name: "vhost.state.1" }])).toBeNull();
      const st = new SessionStore(w);
      st.save(session(w));
      const passed = w.pass().filter((p) => p.name !== "vhost.fd.2");
      expect(new SessionStore(w).restore(passed)).toBeNull();
    });

    test("clear() empties the store; handover() and adopt() carry it across an exec", () => {
      const w = world();
      const a = new SessionStore(w);
      const s = session(w);
      a.save(s);
      const b = new SessionStore(w);
      b.adopt(JSON.parse(JSON.stringify(a.handover())));
      b.save(s);
      expect(w.entries.size).toBe(8);
      b.clear();
      expect(w.entries.size).toBe(0);
    });
  });
}
