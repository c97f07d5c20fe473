/**
 * For services written in TypeScript: the sd_listen_fds_with_names() protocol. Reads
 * LISTEN_PID, LISTEN_FDS and LISTEN_FDNAMES (fds start at 3), checks that they are meant for
 * this process, and by default removes the variables so child processes do not inherit them.
 */

export const SD_LISTEN_FDS_START = 3;

export interface ListenFd {
  fd: number;
  name: string;
}

export function listenFds(env: Record<string, string | undefined> = process.env, opts: { unset?: boolean; pid?: number } = {}): ListenFd[] {
  const pid = opts.pid ?? process.pid;
  const unset = opts.unset ?? true;
  try {
    if (!env.LISTEN_PID || Number(env.LISTEN_PID) !== pid) return [];
    const n = Number(env.LISTEN_FDS);
    if (!Number.isInteger(n) || n <= 0 || n > 0x7ffffffc) return [];
    const names = env.LISTEN_FDNAMES !== undefined ? env.LISTEN_FDNAMES.split(":") : [];
    if (names.length && names.length !== n) throw new Error(`LISTEN_FDNAMES has ${names.length} names for ${n} fds`);
    return Array.from({ length: n }, (_, i) => ({ fd: SD_LISTEN_FDS_START + i, name: names[i] ?? "unknown" }));
  } finally {
    if (unset) for (const k of ["LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES", "LISTEN_PIDFDID"]) delete env[k];
  }
}
