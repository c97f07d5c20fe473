/**
 * A service's file descriptor store (FileDescriptorStoreMax=): fds a service hands to the
 * manager with FDSTORE=1 and gets back, named, in $LISTEN_FDS on its next start. Pure apart
 * from the injected close().
 */
export interface StoredFd {
  fd: number;
  name: string;
}

export class FdStore {
  private entries: StoredFd[] = [];

  constructor(
    public max: number,
    private readonly closeFd: (fd: number) => void,
  ) {}

  get size(): number {
    return this.entries.length;
  }

  /** Adds fds under name; returns the ones refused (store full), which the caller must report. Refused fds are closed. */
  add(name: string, fds: number[]): { stored: number; refused: number } {
    let stored = 0;
    let refused = 0;
    for (const fd of fds) {
      if (this.entries.length >= this.max) {
        this.closeFd(fd);
        refused++;
        continue;
      }
      this.entries.push({ fd, name });
      stored++;
    }
    return { stored, refused };
  }

  /** Closes and forgets every fd stored under name; returns how many. */
  remove(name: string): number {
    const gone = this.entries.filter((e) => e.name === name);
    this.entries = this.entries.filter((e) => e.name !== name);
    for (const e of gone) this.closeFd(e.fd);
    return gone.length;
  }

  list(): readonly StoredFd[] {
    return this.entries;
  }

  names(): string[] {
    return this.entries.map((e) => e.name);
  }

  clear(): void {
    for (const e of this.entries) this.closeFd(e.fd);
    this.entries = [];
  }
}
