/**
 * Keeps a running back-end's session in its service manager's file descriptor store
 * (FileDescriptorStoreMax=, FDSTORE=1 in sd_notify), so that a back-end killed outright
 * (SIGKILL, a crash, the OOM killer) and started again by the manager (Restart=) serves the
 * same QEMU on. QEMU 7.2 cannot do without it: its vhost-user-vsock device never re-sends its
 * set-up to a new back-end (see README.md), so the vhost-user connection must never close.
 *
 * The store holds the vhost-user connection (QEMU never sees it close), both listening
 * sockets, the guest memory fds, the ring eventfds, and the session's description (a
 * VsockHostState, JSON, with the store's name of each fd) as the one datagram queued in a
 * socket: a successor reads it with MSG_PEEK, so it is still there for the next one.
 *
 * Each file is stored once, under its own name (vhost.fd.K), and stays while the session
 * uses it; a save removes the files the session no longer uses before it stores new ones,
 * since a manager may refuse a file it already holds (systemd compares them with same_fd())
 * and QEMU sends the same file again (the memory on every SET_MEM_TABLE). A file is known by
 * its fd number until the process closes it (closed()), and a new fd for a file already stored
 * (same device and inode; eventfds have none of their own) becomes another name for it. The
 * description goes last (vhost.state.K), then the previous one is removed.
 *
 * SessionStore is pure over an FdStoreIo; fdStoreFromEnv() gives the one that talks to the manager.
 */
import * as n from "../native.ts";
import { AF_UNIX, MSG_PEEK, S_IFMT, SOCK_CLOEXEC, SOCK_DGRAM, SOCK_NONBLOCK } from "../sys/constants.ts";
import type { StoreHandover, VsockHostState } from "./host-state.ts";

export interface FdStoreIo {
  /** FDSTORE=1 with FDNAME=name: the manager keeps a copy of fd. */
  store(name: string, fd: number): void;
  /** FDSTOREREMOVE=1 with FDNAME=name: the manager closes what it keeps under name. */
  remove(name: string): void;
  /** An fd whose content is text, to read back with readNote() in another process. */
  note(text: string): number;
  readNote(fd: number): string;
  /** What tells the file behind fd from others ("dev:ino"), or null when its inode is shared (eventfds). */
  identity(fd: number): string | null;
  dup(fd: number): number;
  close(fd: number): void;
}

/** What the description holds. */
interface Saved {
  /** The saving process's fd numbers, and the store's name for each. */
  names: Record<string, string>;
  state: VsockHostState;
}

/** Every fd a state names (each once). */
export function stateFds(s: VsockHostState): number[] {
  const all = [
    s.server.listenFd,
    s.server.clientFd,
    s.hostListenFd,
    ...s.backend.memory.map((m) => m.fd),
    ...s.backend.rings.flatMap((r) => [r.kickFd, r.callFd, r.errFd]),
  ];
  return [...new Set(all.filter((fd) => fd >= 0))];
}

/** The state with every fd number replaced by pick(fd) (-1 stays -1). */
export function remapState(s: VsockHostState, pick: (fd: number) => number): VsockHostState {
  const m = (fd: number) => (fd >= 0 ? pick(fd) : -1);
  return {
    ...s,
    server: { ...s.server, listenFd: m(s.server.listenFd), clientFd: m(s.server.clientFd) },
    hostListenFd: m(s.hostListenFd),
    backend: {
      ...s.backend,
      memory: s.backend.memory.map((x) => ({ ...x, fd: m(x.fd) })),
      rings: s.backend.rings.map((r) => ({ ...r, kickFd: m(r.kickFd), callFd: m(r.callFd), errFd: m(r.errFd) })),
    },
  };
}

const NAME_RE = /^vhost\.(fd|state)\.(\d+)$/;

export class SessionStore {
  private next = 1;
  /** Our fd numbers and the store's name for each (several numbers may share a name: one file). */
  private stored = new Map<number, string>();
  /** File identity -> name, to see a file stored already. */
  private ids = new Map<string, string>();
  /** Names to remove at the next save. */
  private stale = new Set<string>();
  private noteName: string | null = null;

  constructor(private readonly io: FdStoreIo) {}

  /** The process closed fd: its number may name another file from now on. */
  closed(fd: number): void {
    const name = this.stored.get(fd);
    if (name === undefined) return;
    this.stored.delete(fd);
    if (![...this.stored.values()].includes(name)) this.stale.add(name);
  }

  /**
   * Takes the session over from fds the manager passed ($LISTEN_FDS, named): the newest
   * description whose files are all there, with fds of this process in it; null when there
   * is none. Fds it does not use are closed here (the next save drops them from the store).
   */
  restore(passed: { fd: number; name: string }[]): VsockHostState | null {
    const files = new Map<string, number>();
    const notes: { k: number; name: string; fd: number }[] = [];
    for (const p of passed) {
      const m = NAME_RE.exec(p.name);
      if (!m) continue;
      this.next = Math.max(this.next, Number(m[2]) + 1);
      if (m[1] === "state") notes.push({ k: Number(m[2]), name: p.name, fd: p.fd });
      else if (files.has(p.name)) this.discard(p.name, p.fd);
      else files.set(p.name, p.fd);
    }
    notes.sort((a, b) => b.k - a.k);
    let found: VsockHostState | null = null;
    for (const note of notes) {
      let saved: Saved | null = null;
      if (!found) {
        try {
          saved = JSON.parse(this.io.readNote(note.fd)) as Saved;
        } catch {
          /* unreadable: an older description may do */
        }
      }
      this.io.close(note.fd);
      if (!saved || !stateFds(saved.state).every((fd) => files.has(saved.names[fd] ?? ""))) {
        this.stale.add(note.name);
        continue;
      }
      this.noteName = note.name;
      // One fd per number the process had: a file it held under two numbers gets a dup for the second.
      const byOld = new Map<number, number>();
      const given = new Set<number>();
      found = remapState(saved.state, (old) => {
        const had = byOld.get(old);
        if (had !== undefined) return had;
        const name = saved.names[old]!;
        let fd = files.get(name)!;
        if (given.has(fd)) fd = this.io.dup(fd);
        given.add(fd);
        byOld.set(old, fd);
        this.stored.set(fd, name);
        return fd;
      });
    }
    for (const [name, fd] of files) {
      if (![...this.stored.values()].includes(name)) this.discard(name, fd);
    }
    for (const [fd, name] of this.stored) {
      const id = this.io.identity(fd);
      if (id) this.ids.set(id, name);
    }
    return found;
  }

  private discard(name: string, fd: number): void {
    this.io.close(fd);
    this.stale.add(name);
  }

  /** Stores the session as it is now: new files in, files no longer used out, then the new description. */
  save(state: VsockHostState): void {
    const fds = stateFds(state);
    const inState = new Set(fds);
    for (const fd of [...this.stored.keys()]) if (!inState.has(fd)) this.closed(fd);
    const live = new Set(this.stored.values());
    // Out first: a manager that refuses a file it holds must have let it go before the file comes back under a new name.
    for (const name of this.stale) {
      if (live.has(name)) continue;
      this.io.remove(name);
      for (const [id, v] of this.ids) if (v === name) this.ids.delete(id);
    }
    this.stale.clear();
    for (const fd of fds) {
      if (this.stored.has(fd)) continue;
      const id = this.io.identity(fd);
      const known = id ? this.ids.get(id) : undefined;
      if (known) {
        this.stored.set(fd, known);
        continue;
      }
      const name = `vhost.fd.${this.next++}`;
      this.io.store(name, fd);
      this.stored.set(fd, name);
      if (id) this.ids.set(id, name);
    }
    const saved: Saved = { names: Object.fromEntries(fds.map((fd) => [String(fd), this.stored.get(fd)!])), state };
    const noteName = `vhost.state.${this.next++}`;
    const note = this.io.note(JSON.stringify(saved));
    try {
      this.io.store(noteName, note);
    } finally {
      this.io.close(note);
    }
    if (this.noteName) this.io.remove(this.noteName);
    this.noteName = noteName;
  }

  /** What the next process image needs to go on (an exec hands the session over without the manager). */
  handover(): StoreHandover {
    return { next: this.next, stored: [...this.stored], stale: [...this.stale], noteName: this.noteName };
  }

  /** Continues from handover() in the next process image (the fd numbers are the same). */
  adopt(h: StoreHandover): void {
    this.next = h.next;
    this.stored = new Map(h.stored);
    this.stale = new Set(h.stale);
    this.noteName = h.noteName;
    for (const [fd, name] of this.stored) {
      const id = this.io.identity(fd);
      if (id) this.ids.set(id, name);
    }
  }

  /** Removes everything stored (a clean stop: the next start must not take an old session over). */
  clear(): void {
    for (const name of new Set([...this.stored.values(), ...this.stale, ...(this.noteName ? [this.noteName] : [])])) this.io.remove(name);
    this.stored.clear();
    this.stale.clear();
    this.ids.clear();
    this.noteName = null;
  }
}

/**
 * The fds the manager passed ($LISTEN_PID, $LISTEN_FDS, $LISTEN_FDNAMES; the variables are
 * removed). lib/listen-fds.ts and lib/sd-notify.ts say the same for services, but lib/ sits
 * above vhost/ (it speaks vhost's host protocol), so the two messages this needs are here.
 */
export function passedFds(env: Record<string, string | undefined> = process.env): { fd: number; name: string }[] {
  const ok = env.LISTEN_PID !== undefined && Number(env.LISTEN_PID) === process.pid;
  const count = ok ? Number(env.LISTEN_FDS) : 0;
  const names = (env.LISTEN_FDNAMES ?? "").split(":");
  for (const k of ["LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES", "LISTEN_PIDFDID"]) delete env[k];
  if (!Number.isInteger(count) || count <= 0) return [];
  return Array.from({ length: count }, (_, i) => ({ fd: 3 + i, name: names[i] ?? "unknown" }));
}

/** The parts of an FdStoreIo that stay in this process (the description's socket, fstat, dup, close). */
export const nativeFdFiles: Pick<FdStoreIo, "note" | "readNote" | "identity" | "dup" | "close"> = {
  note: (text) => {
    const [r, w] = n.socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC);
    try {
      n.send(w, new TextEncoder().encode(text));
    } catch (e) {
      n.close(r);
      throw e;
    } finally {
      n.close(w);
    }
    return r;
  },
  readNote: (fd) => {
    const buf = new Uint8Array(1 << 20);
    const got = n.recv(fd, buf, MSG_PEEK);
    if (got === null) throw new Error("the stored session description is empty");
    return new TextDecoder().decode(buf.subarray(0, got));
  },
  identity: (fd) => {
    const st = n.fstat(fd);
    return st.mode & S_IFMT ? `${st.dev}:${st.ino}` : null; // an anonymous inode (eventfd) has no file type
  },
  dup: (fd) => n.dupCloexec(fd),
  close: (fd) => n.close(fd),
};

/** FdStoreIo through $NOTIFY_SOCKET; null unless the manager keeps a store for this process ($FDSTORE, as systemd >= 254 sets it). */
export function fdStoreFromEnv(env: Record<string, string | undefined> = process.env): FdStoreIo | null {
  const path = env.NOTIFY_SOCKET;
  if (!path || !(Number(env.FDSTORE) > 0)) return null;
  const addr = { family: "unix" as const, path: path.replace(/^@/, ""), abstract: path.startsWith("@") };
  const notify = (text: string, fds: number[]) => {
    const fd = n.socket(AF_UNIX, SOCK_DGRAM, 0, true);
    try {
      n.connect(fd, addr);
      const data = new TextEncoder().encode(text);
      if (fds.length) n.sendFds(fd, data, fds);
      else n.send(fd, data);
    } finally {
      n.close(fd);
    }
  };
  return {
    ...nativeFdFiles,
    store: (name, fd) => notify(`FDSTORE=1\nFDNAME=${name}`, [fd]),
    remove: (name) => notify(`FDSTOREREMOVE=1\nFDNAME=${name}`, []),
  };
}
