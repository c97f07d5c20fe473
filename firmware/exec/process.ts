/**
 * A process bunit watches: its pid, how it ended, and the output pipes it had.
 */

export interface ExitInfo {
  /** Exit status when the process exited, else null. */
  code: number | null;
  /** Terminating signal number, else null. */
  signal: number | null;
}

export interface SpawnedProcess {
  pid: number;
  exited: Promise<ExitInfo>;
  /** With execStatus: resolves to null once the program runs, or to the exit status of the step that failed before it. */
  execResult?: Promise<number | null>;
  /** Read ends of the pipes carrying captured output (handed over by daemon-reexec). */
  logFds?: { stdout?: number; stderr?: number };
}
