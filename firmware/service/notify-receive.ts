/**
 * A $NOTIFY_SOCKET datagram for a service: NotifyAccess= checked against the sender, then the
 * bookkeeping every message may carry (fd store, STATUS=, MAINPID=, WATCHDOG_USEC=,
 * EXTEND_TIMEOUT_USEC=). What remains for the state machine (READY=1, RELOADING=1, STOPPING=1,
 * WATCHDOG=1/trigger) comes back as the parsed update.
 */
import type { UnitLog } from "../core/log.ts";
import type { FdStore } from "./fd-store.ts";
import { interpretNotify, notifyRefusal, parseNotifyText, type NotifyAccess, type NotifyUpdate } from "./notify-message.ts";

/** The parts of a service a notify message may touch. */
export interface NotifyReceiver {
  readonly notifyAccess: NotifyAccess;
  readonly mainPid: number | null;
  readonly controlPid: number | null;
  readonly fdStore: FdStore;
  readonly log: UnitLog;
  readonly stateName: string;
  owns(pid: number): boolean;
  /** Whether pid is one of the service's processes: in its cgroup, or without cgroups in a session of its processes. */
  belongs(pid: number): boolean;
  exists(pid: number): boolean;
  /** The daemon's own pid. */
  readonly daemonPid: number;
  closeFd(fd: number): void;
  setStatus(text: string): void;
  adoptMain(pid: number): void;
  overrideWatchdog(usec: number): void;
  /** Moves the running timeout to no earlier than now + usec; whether it moved. */
  extendTimeout(usec: number): boolean;
}

/**
 * Applies a message's bookkeeping; the update for the state machine, or null when the sender was
 * refused. senderUid: from SCM_CREDENTIALS (undefined: unknown, treated as not root).
 */
export function receiveNotify(r: NotifyReceiver, senderPid: number, text: string, fds: number[], senderUid?: number): NotifyUpdate | null {
  const refusal = notifyRefusal(r.notifyAccess, senderPid, r.mainPid, r.controlPid, (p) => r.owns(p));
  if (refusal) {
    for (const fd of fds) r.closeFd(fd);
    r.log.warning(`Got notification message from PID ${senderPid}, but ${refusal}.`);
    return null;
  }
  const u = interpretNotify(parseNotifyText(text));
  if (u.unknown.length) r.log.debug(`Ignoring notification assignments: ${u.unknown.join(" ")}`);
  storeFds(r, u, fds);
  if (u.status !== undefined) r.setStatus(u.status);
  if (u.errno !== undefined) r.log.debug(`Service reported errno ${u.errno}.`);
  if (u.mainPid !== undefined && u.mainPid !== r.mainPid) {
    if (senderPid !== r.mainPid && senderPid !== r.controlPid && r.notifyAccess !== "all") {
      r.log.warning(`Refusing MAINPID=${u.mainPid} from PID ${senderPid}.`);
    } else if (suitableMainPid(r, u.mainPid, senderUid === 0)) {
      r.log.debug(`Main PID changed to ${u.mainPid} by notification.`);
      r.adoptMain(u.mainPid);
    }
  }
  if (u.watchdogUsec !== undefined) r.overrideWatchdog(u.watchdogUsec);
  // The start, reload or stop timeout that runs now ends no earlier than now + the value.
  if (u.extendTimeoutUsec !== undefined && r.extendTimeout(u.extendTimeoutUsec)) {
    r.log.debug(`Timeout of the ${r.stateName} state extended by ${u.extendTimeoutUsec} us (EXTEND_TIMEOUT_USEC=).`);
  }
  return u;
}

/**
 * systemd's service_is_suitable_main_pid() for MAINPID=: never pid 1, the daemon itself or the
 * control process; it must exist; a process outside the service is taken only from a root sender.
 */
function suitableMainPid(r: NotifyReceiver, pid: number, fromRoot: boolean): boolean {
  const refuse = (why: string) => (r.log.warning(`New main PID ${pid} ${why}, refusing.`), false);
  if (pid <= 1) return refuse("is init");
  if (pid === r.daemonPid) return refuse("is the manager itself");
  if (pid === r.controlPid) return refuse("is the control process");
  if (!r.exists(pid)) {
    r.log.warning(`New main PID ${pid} does not exist, ignoring.`);
    return false;
  }
  if (r.belongs(pid)) return true;
  if (!fromRoot) return refuse("does not belong to service");
  r.log.debug(`New main PID ${pid} does not belong to service, but we'll accept it as the request to change it came from a privileged process.`);
  return true;
}

/** FDSTORE=1 keeps the fds (up to FileDescriptorStoreMax=); fds sent without it are closed. */
function storeFds(r: NotifyReceiver, u: NotifyUpdate, fds: number[]): void {
  if (u.fdstore) {
    if (r.fdStore.max === 0) {
      for (const fd of fds) r.closeFd(fd);
      r.log.warning(`Got ${fds.length} file descriptors to store, but FileDescriptorStoreMax=0; closing them.`);
    } else {
      const res = r.fdStore.add(u.fdstore.name, fds, u.fdstore.poll);
      r.log.debug(`Stored ${res.stored} file descriptors as "${u.fdstore.name}".`);
      if (res.duplicates) r.log.debug(`Suppressed ${res.duplicates} duplicate file descriptors (already in the store).`);
      if (res.refused) r.log.warning(`File descriptor store is full (FileDescriptorStoreMax=${r.fdStore.max}); closed ${res.refused} file descriptors.`);
    }
  } else if (fds.length) {
    for (const fd of fds) r.closeFd(fd);
    if (!u.barrier) r.log.warning(`Got ${fds.length} file descriptors without FDSTORE=1; closing them.`);
  }
  if (u.fdstoreRemove) r.log.debug(`Removed ${r.fdStore.remove(u.fdstoreRemove.name)} stored file descriptors named "${u.fdstoreRemove.name}".`);
}
