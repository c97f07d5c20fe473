/**
 * What a service unit needs from the manager beyond UnitHost, and what it hands to the next
 * daemon process on daemon-reexec.
 */
import type { ConditionEnv } from "../unit/conditions.ts";
import type { CgroupTree } from "../exec/cgroup.ts";
import type { DirectoryRoots } from "../exec/exec-directories.ts";
import type { UnitHost, UnitRuntime } from "../runtime/unit-runtime.ts";
import type { PidFileReader } from "./main-pid.ts";
import type { FileOpener } from "./open-files.ts";
import type { ServiceResult } from "./service-state.ts";

/** The one thing of a service the manager's socket bookkeeping looks at. */
export interface ServiceRef {
  readonly name: string;
  readonly cfg: { readonly sockets: readonly string[] };
}

/** The manager-side services a service needs beyond UnitHost. */
export interface ServiceHost extends UnitHost {
  /** fds of the sockets that activate this service, in order, with their names. */
  socketFds(service: ServiceRef): { fd: number; name: string }[];
  /** Variables those sockets give the service (USB_FUNCTION_STATE). */
  socketEnvironment(service: ServiceRef): Record<string, string>;
  conditionEnv: ConditionEnv;
  /** Directory roots for RuntimeDirectory= and friends. */
  dirs: DirectoryRoots;
  /** Notifies the manager that the instance for an accepted connection can be collected. */
  instanceFinished?(service: UnitRuntime): void;
  /** The daemon's $NOTIFY_SOCKET path; null when it has none. */
  notifySocket: string | null;
  /** cgroup v2 tracking; null: process groups only. */
  cgroups: CgroupTree | null;
  /** Whether two fds are one open file description (kcmp); null or absent: cannot tell. */
  sameOpenFile?(a: number, b: number): boolean | null;
  /** Children of the daemon that Bun did not spawn (Type=forking guesses its main PID among them). */
  orphanChildren(): number[];
  /** Reads PIDFile= (default: the file system; tests inject one). */
  pidFiles?: PidFileReader;
  /** Opens OpenFile= paths (default: the file system; tests inject one). */
  fileOpener?: FileOpener;
}

export interface ServiceSnapshot {
  unit: string;
  sub: string;
  result: ServiceResult;
  mainPid: number | null;
  nRestarts: number;
  statusText: string | null;
  cgroupPath: string | null;
  invocationId: string;
  /** poll: absent in a snapshot of an older daemon (then watched, systemd's default). */
  fdStore: { fd: number; name: string; poll?: boolean }[];
  logFds: { stdout?: number; stderr?: number };
}
