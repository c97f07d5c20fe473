/**
 * What every running unit shares: its states and the services it may ask of the manager
 * (UnitHost).
 */
import type { Clock } from "../core/clock.ts";
import type { Logger, UnitLog } from "../core/log.ts";
import type { FdWatch } from "../core/fd-watch.ts";
import type { LoadedUnit } from "../unit/unit-file.ts";
import type { ProcessSpawner } from "../exec/spawn.ts";
import type { SystemLookups } from "../exec/exec-spec.ts";
import type { ProcessKiller } from "../exec/process-killer.ts";
import type { ProcessProbe, ProcessWatcher } from "../exec/process-watch.ts";
import type { AcceptedConnection, SavedConnection } from "./connection.ts";

export type { SavedConnection };

export type ActiveState = "active" | "reloading" | "inactive" | "failed" | "activating" | "deactivating" | "maintenance";

/** `fdstore`'s answer for a unit that is not a service. */
export function noFdStore(unit: string): string {
  return `Unit ${unit} has no file descriptor store: only services keep one.`;
}

export interface UnitHost {
  clock: Clock;
  logger: Logger;
  spawner: ProcessSpawner;
  lookups: SystemLookups;
  watcher: FdWatch;
  killer: ProcessKiller;
  /** Watches processes bunit did not spawn (Type=forking, MAINPID=, daemon-reexec). */
  processes: ProcessWatcher;
  /** Whether such a process exists and which session it is in; the daemon's own pid. */
  probe: ProcessProbe;
  daemonEnv: Readonly<Record<string, string | undefined>>;
  managerEnv: Record<string, string>;
  /** The running unit of that name, loading it when needed (null when it cannot be loaded). */
  unit(name: string): UnitRuntime | null;
  /** Queues a start job (the activation of a service); false when it could not be queued. */
  requestStart(name: string, reason: string): boolean;
  hasJob(name: string): boolean;
  /** Called by a unit after each state change. */
  stateChanged(unit: UnitRuntime, from: string, to: string): void;
  /** Closes an fd the unit owned. */
  closeFd(fd: number): void;
}

/** What a unit hands to the next daemon process on daemon-reexec (see daemon/reexec-state.ts). */
export interface SerializedUnit {
  unit: string;
  /** The unit type's own state, as JSON; read back only by the same type's deserialize(). */
  data: unknown;
  /** fds the new process inherits (also named inside data). */
  fds: number[];
  /** An Accept=yes instance's connection: the manager hands it back to its socket. */
  connection?: SavedConnection;
}

/** A listening address of a unit, as `list-sockets` shows it. */
export interface ListenRow {
  listen: string;
  type: string;
  unit: string;
  state: string;
  activates: string;
  accepted: number;
  connections: number;
}

/** Runtime facts a unit type adds to `status`/`show` (see control/unit-info.ts). */
export interface RuntimeFacts {
  service?: {
    mainPid: number | null;
    controlPid: number | null;
    nRestarts: number;
    statusText: string | null;
    execMain: { code: number | null; signal: number | null } | null;
    cgroup: string | null;
    tasks: number[];
    fdStore: string[];
    /** The id of the current or last run (INVOCATION_ID=, systemd's InvocationID=); "" before the first. */
    invocationId?: string;
  };
  socket?: { nAccepted: number; nConnections: number; nRefused: number };
}

/**
 * A running unit. This is the one interface the manager, the job engine, daemon-reexec and the
 * control handlers use (systemd's UnitVTable): the methods below have neutral defaults, and each
 * unit type overrides what applies to it. Nobody outside a unit type asks a unit its type.
 */
export abstract class UnitRuntime<State extends string = string, Result extends string = string> {
  /** The result of the last run: success, exit-code, signal, timeout, resources, ... */
  result: Result;
  /** When the unit last entered an active or inactive state (monotonic µs). */
  stateChangeTime = 0;
  /** The unit refused a start because its start rate limit was hit (sockets watch their service's). */
  startLimitHit = false;
  readonly log: UnitLog;

  constructor(
    public config: LoadedUnit,
    protected readonly host: UnitHost,
    initialResult: Result,
  ) {
    this.log = host.logger.forUnit(config.name);
    this.result = initialResult;
  }

  get name(): string {
    return this.config.name;
  }

  // ---- state and jobs (every type) ------------------------------------------------------------

  abstract activeState(): ActiveState;
  abstract subState(): State;
  /** Begins starting; completion shows as an active (or failed) state. */
  abstract start(): void;
  abstract stop(): void;
  /** Whether start() may be called now (checked by the job engine). */
  canStart(): string | null {
    return null;
  }
  /** Whether the unit is between two settled states (daemon-reexec waits for none to be). */
  inTransition(): boolean {
    const a = this.activeState();
    return a === "activating" || a === "deactivating" || a === "reloading";
  }
  /** Releases everything (the unit is being removed); the one place a unit's fds and processes are let go. */
  dispose(): void {}

  // ---- reload ------------------------------------------------------------------------------------

  /** Why `reload UNIT` cannot run now, or null. */
  canReload(): string | null {
    return `${this.name} cannot be reloaded.`;
  }
  /** Runs the unit's reload; done(ok) when it is over. */
  reload(done: (ok: boolean) => void): void {
    done(false);
  }
  /**
   * daemon-reload gave this unit a changed configuration (ports: the listening side changed).
   * Returns "reopen" when the manager must restart the unit for it to apply.
   */
  reconfigure(config: LoadedUnit, _change: "settings" | "ports"): "reopen" | "applied" {
    this.config = config;
    return "applied";
  }
  /** daemon-reload found this active unit's file gone: it runs on with its last configuration. */
  unitFileRemoved(): void {}
  /** Whether daemon-reload re-reads this unit's file (not for Accept=yes instances, devices, built-in targets). */
  followsUnitFile(): boolean {
    return true;
  }

  // ---- relations to other units ---------------------------------------------------------------

  /** A unit this one triggers (a socket's service) changed state (systemd's trigger_notify). */
  triggeredUnitChanged(_unit: UnitRuntime): void {}
  /** Some unit became inactive (systemd's stop_notify: a deferred socket tries again). */
  unitStopped(): void {}
  /** fds this unit passes to the service it activates (systemd's collect_fds); none by default. */
  fdsFor(_service: string): { fd: number; name: string }[] {
    return [];
  }
  /** Variables this unit passes to the service it activates. */
  environmentFor(_service: string): Record<string, string> {
    return {};
  }
  /**
   * Takes back an Accept=yes connection one of this unit's instances held across daemon-reexec
   * (it counts against the limits again); null when this unit accepts none.
   */
  reclaimConnection(_saved: SavedConnection): AcceptedConnection | null {
    return null;
  }
  /** Holds (true) or resumes (false) activation: connections wait in the kernel meanwhile. */
  hold(_on: boolean): void {}

  // ---- devices and waiting ports ----------------------------------------------------------------

  /** Whether the unit needs uevents (a port waiting for a device or transport). */
  wantsUevents(): boolean {
    return false;
  }
  /** Something appeared (an interface, a module): ports waiting for it try again. Returns whether any waited. */
  retryWaiting(): boolean {
    return false;
  }
  /** A uevent for one of these device paths; returns true when the unit's device just appeared. */
  deviceEvent(_paths: readonly string[], _action: string): boolean {
    return false;
  }
  /** The device was looked for again after an overflow (rescan); returns true when it just appeared. */
  deviceRescan(): boolean {
    return false;
  }
  /** Whether starting at boot is due now (a device present at start starts what wants it). */
  presentAtBoot(): boolean {
    return false;
  }

  // ---- processes ------------------------------------------------------------------------------

  /** Processes bunit started for this unit (main and control). */
  pids(): number[] {
    return [];
  }
  /** The unit's cgroup while it has one. */
  cgroup(): string | null {
    return null;
  }
  /** A $NOTIFY_SOCKET datagram from one of this unit's processes (senderUid from SCM_CREDENTIALS; undefined: unknown, not root). */
  notify(senderPid: number, _text: string, fds: number[], _senderUid?: number): void {
    for (const fd of fds) this.host.closeFd(fd);
    this.log.warning(`Got notification message from PID ${senderPid}, but this unit takes none.`);
  }

  // ---- daemon-reexec ----------------------------------------------------------------------------

  /** What the next daemon process needs to continue this unit; null when nothing. */
  serialize(): SerializedUnit | null {
    return null;
  }
  /** Continues from what the previous process serialized; returns a problem for the log, or null. */
  deserialize(_data: unknown): string | null {
    return `${this.name} cannot take over state from the previous process`;
  }

  // ---- control ---------------------------------------------------------------------------------

  /** Runtime facts for `status`/`show`. */
  facts(): RuntimeFacts {
    return {};
  }
  /** Listening addresses for `list-sockets`. */
  listening(): ListenRow[] {
    return [];
  }
  /** `fdstore`: the unit's file descriptor store, newest first, or why it has none (only services keep one). */
  storedFds(): readonly { fd: number; name: string }[] | string {
    return noFdStore(this.name);
  }
}
