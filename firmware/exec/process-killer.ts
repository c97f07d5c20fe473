/** Sends signals to processes (the daemon's is kill(2); tests pass a fake). */
export interface ProcessKiller {
  /** Signals a process, or its whole process group when group is true. */
  kill(pid: number, signal: number, group: boolean): void;
}
