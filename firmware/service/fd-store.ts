/**
 * A service's file descriptor store (FileDescriptorStoreMax=): fds a service hands to the
 * manager with FDSTORE=1 and gets back, named, in $LISTEN_FDS on its next start. As systemd's
 * service_add_fd_store(): a full store refuses the fd, an fd that is the same open file as
 * one already stored is dropped as a duplicate, and a stored fd is watched (unless the service
 * said FDPOLL=0) so that one reporting POLLHUP or POLLERR (its peer is gone) is closed and
 * forgotten. The newest fd comes first (systemd prepends to its list), in $LISTEN_FDS as in
 * status. Pure apart from the injected I/O.
 */
export interface StoredFd {
  fd: number;
  name: string;
  /** Watched for POLLHUP/POLLERR (FDPOLL=, default yes). */
  poll: boolean;
}

/** What the store needs from the system. */
export interface FdStoreKernel {
  close(fd: number): void;
  /** Whether a and b are one open file description (kcmp); null when the kernel cannot tell (both are kept). */
  sameFile(a: number, b: number): boolean | null;
  /** Calls onHangup once when fd reports POLLHUP or POLLERR; false when fd cannot be polled (a regular file). */
  watchHangup(fd: number, onHangup: (revents: number) => void): boolean;
}

/** `fdstore`'s answer for a service, as systemd: a store that is off and empty is an error, any other a list. */
export function fdStoreAnswer<T>(unit: string, max: number, entries: readonly T[]): readonly T[] | string {
  return max === 0 && entries.length === 0 ? `File descriptor store not enabled for ${unit}.` : entries;
}

export class FdStore {
  private entries: StoredFd[] = [];
  /** Called after a stored fd reported POLLHUP/POLLERR and was closed. */
  onHangup: (e: StoredFd, revents: number) => void = () => {};

  constructor(
    public max: number,
    private readonly io: FdStoreKernel,
  ) {}

  get size(): number {
    return this.entries.length;
  }

  /**
   * Adds fds under name. Refused fds (store full) and duplicates are closed; the caller reports
   * the refused ones.
   */
  add(name: string, fds: number[], poll = true): { stored: number; refused: number; duplicates: number } {
    let stored = 0;
    let refused = 0;
    let duplicates = 0;
    for (const fd of fds) {
      if (this.entries.length >= this.max) {
        this.io.close(fd);
        refused++;
        continue;
      }
      if (this.entries.some((e) => this.io.sameFile(e.fd, fd) === true)) {
        this.io.close(fd);
        duplicates++;
        continue;
      }
      const entry = { fd, name, poll };
      this.entries.unshift(entry);
      if (poll) this.io.watchHangup(fd, (revents) => this.hungUp(entry, revents));
      stored++;
    }
    return { stored, refused, duplicates };
  }

  private hungUp(entry: StoredFd, revents: number): void {
    const i = this.entries.indexOf(entry);
    if (i < 0) return;
    this.entries.splice(i, 1);
    this.io.close(entry.fd);
    this.onHangup(entry, revents);
  }

  /** Closes and forgets every fd stored under name; returns how many. */
  remove(name: string): number {
    const gone = this.entries.filter((e) => e.name === name);
    this.entries = this.entries.filter((e) => e.name !== name);
    for (const e of gone) this.io.close(e.fd);
    return gone.length;
  }

  list(): readonly StoredFd[] {
    return this.entries;
  }

  names(): string[] {
    return this.entries.map((e) => e.name);
  }

  clear(): void {
    for (const e of this.entries) this.io.close(e.fd);
    this.entries = [];
  }
}
