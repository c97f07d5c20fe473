/**
 * Test support, used only by tests: a fake manager for unit state machine tests: the FakeClock, a process spawner whose
 * processes exit when the test says so, a killer that records signals (and makes processes
 * exit), a fake fd watcher, lookups and logger, and a table of units. No real process or fd is
 * touched. It implements UnitHost and the service and socket hosts (ServiceHost, SocketHost).
 */
import type { FileOpener } from "../service/open-files.ts";
import { FakeClock, type Clock, type Timer } from "../core/clock.ts";
import type { FdWatch } from "../core/fd-watch.ts";
import { Logger, type LogRecord } from "../core/log.ts";
import type { SystemLookups } from "../exec/exec-spec.ts";
import type { CgroupTree } from "../exec/cgroup.ts";
import type { ConditionEnv } from "../unit/conditions.ts";
import { parseUnitText } from "../unit/ini-syntax.ts";
import type { HostFacts } from "../unit/specifiers.ts";
import { buildUnit, type LoadedUnit } from "../unit/unit-file.ts";
import type { ServiceHost, ServiceUnit } from "../service/service-unit.ts";
import type { AcceptedConnection, SocketHost, SocketUnit } from "../socket/socket-unit.ts";
import { FunctionReadiness } from "../usb/function-readiness.ts";
import type { Ep0Io } from "../usb/ep0-reader.ts";
import type { UnitRuntime } from "../runtime/unit-runtime.ts";

export { FakeKiller, FakeProbe, FakeProcess, FakeProcessWatcher, FakeSpawner } from "./fake-processes.ts";
import { FakeKiller, FakeProbe, type FakeProcess, FakeProcessWatcher, FakeSpawner } from "./fake-processes.ts";

/**
 * cgroup v2 tracking, faked: a unit's cgroup holds the live fake processes spawned into it and
 * the ones the test adds with join(). Matches CgroupTree's shape (its constructor is private).
 */
export class FakeCgroups implements Pick<CgroupTree, keyof CgroupTree> {
  readonly root = "/sys/fs/cgroup/bunit-fake";
  readonly removed: string[] = [];
  /** Each unitPath() call: a directory made (or found). */
  readonly made: string[] = [];
  private readonly joined = new Map<string, FakeProcess[]>();
  constructor(private readonly spawner: FakeSpawner) {}
  unitPath(unit: string): string {
    this.made.push(`${this.root}/${unit}`);
    return `${this.root}/${unit}`;
  }
  /** Puts a process (one a unit's process forked: see FakeSpawner.external()) into a cgroup. */
  join(path: string, p: FakeProcess): void {
    this.joined.set(path, [...(this.joined.get(path) ?? []), p]);
  }
  members(path: string): FakeProcess[] {
    const spawned = this.spawner.spawned.filter((p) => p.spec.cgroup === path);
    return [...spawned, ...(this.joined.get(path) ?? [])].filter((p) => p.alive);
  }
  procs(path: string): number[] {
    return this.members(path).map((p) => p.pid);
  }
  populated(path: string): boolean {
    return this.members(path).length > 0;
  }
  kill(path: string, signal: number, kill: (pid: number, sig: number) => void): number {
    const pids = this.procs(path);
    for (const pid of pids) kill(pid, signal);
    return pids.length;
  }
  remove(path: string): void {
    if (!this.populated(path)) this.removed.push(path);
  }
  removeRoot(): void {}
}

export class FakeFdWatch implements FdWatch {
  readonly handlers = new Map<number, { events: number; handler: (revents: number) => void; armed: boolean }>();
  watch(fd: number, events: number, handler: (revents: number) => void): void {
    this.handlers.set(fd, { events, handler, armed: true });
  }
  arm(fd: number, events: number): void {
    const h = this.handlers.get(fd);
    if (h) Object.assign(h, { events, armed: true });
  }
  forget(fd: number): void {
    this.handlers.delete(fd);
  }
  /** Readiness on fd: calls its handler once (watches are one-shot, like the native one). */
  fire(fd: number, revents: number): boolean {
    const h = this.handlers.get(fd);
    if (!h || !h.armed) return false;
    h.armed = false;
    h.handler(revents);
    return true;
  }
}

/** FunctionFS ep0, faked: reads come from a queue per fd (empty: would block), writes are recorded. */
export class FakeEp0 implements Ep0Io {
  readonly input = new Map<number, Uint8Array[]>();
  readonly written: { fd: number; data: Uint8Array }[] = [];
  read(fd: number, buf: Uint8Array): number | null {
    const next = this.input.get(fd)?.shift();
    if (!next) return null;
    const n = Math.min(buf.length, next.length);
    buf.set(next.subarray(0, n));
    return n;
  }
  write(fd: number, data: Uint8Array): number | null {
    this.written.push({ fd, data: data.slice() });
    return data.length;
  }
  pause(): void {}
  readable(fd: number): boolean {
    return (this.input.get(fd)?.length ?? 0) > 0;
  }
}

/** A clock for tests: the FakeClock, plus the deadlines of live timers so advance() can settle between them. */
export class SteppedClock implements Clock {
  readonly fake = new FakeClock();
  private live = new Map<number, number>();
  private nextId = 0;
  now(): number {
    return this.fake.now();
  }
  wallMs(): number {
    return this.fake.wallMs();
  }
  setTimer(delayUsec: number, fn: () => void): Timer {
    const id = this.nextId++;
    if (Number.isFinite(delayUsec)) this.live.set(id, this.fake.now() + Math.max(0, delayUsec));
    const t = this.fake.setTimer(delayUsec, () => {
      this.live.delete(id);
      fn();
    });
    return { cancel: () => (this.live.delete(id), t.cancel()) };
  }
  /** The earliest live timer's deadline, or null. */
  nextDeadline(): number | null {
    let min: number | null = null;
    for (const at of this.live.values()) if (min === null || at < min) min = at;
    return min;
  }
  pendingTimers(): number {
    return this.live.size;
  }
}

/** Machine facts for specifier expansion in unit text. */
export const FAKE_HOST_FACTS: HostFacts = {
  architecture: "x86-64",
  bootId: "0".repeat(32),
  machineId: "f".repeat(32),
  hostname: "fake",
  prettyHostname: "",
  kernelRelease: "6.1.0-fake",
  osRelease: { ID: "debian", VERSION_ID: "12" },
  user: { name: "root", uid: 0, gid: 0, group: "root", home: "/root", shell: "/bin/sh" },
  runtimeDir: "/run",
  stateDir: "/var/lib",
  cacheDir: "/var/cache",
  logsDir: "/var/log",
  configDir: "/etc",
  tmpDir: "/tmp",
  varTmpDir: "/var/tmp",
};

/** A LoadedUnit from unit-file text (and drop-in texts); throws on load errors. */
export function unitFromText(name: string, text: string, dropins: string[] = []): LoadedUnit {
  const path = `/etc/bunit/${name}`;
  const u = buildUnit({
    name,
    fragmentPath: path,
    host: FAKE_HOST_FACTS,
    fragment: parseUnitText(text, path),
    dropins: dropins.map((d, i) => parseUnitText(d, `${path}.d/${i}.conf`)),
  });
  if (u.loadState !== "loaded") {
    throw new Error(`${name}: ${u.loadState}: ${u.diagnostics.map((d) => d.message).join("; ")}`);
  }
  return u;
}

/** Conditions: paths in `paths` exist, everything else answers as an empty machine. */
/** An Accept=yes connection for a service instance built directly (no socket, fd not real). */
export function fakeConnection(fd = 99, env: Record<string, string> = {}): AcceptedConnection & { released: boolean } {
  const c = {
    fd,
    env,
    description: `fake connection ${fd}`,
    fdName: "connection",
    socket: "a.socket",
    source: null,
    released: false,
    release: () => void (c.released = true),
  };
  return c;
}

export function fakeConditionEnv(paths = new Set<string>()): ConditionEnv {
  return {
    exists: (p) => paths.has(p),
    isDirectory: () => false,
    isSymlink: () => false,
    isExecutable: (p) => paths.has(p),
    fileSize: (p) => (paths.has(p) ? 1 : null),
    dirEntries: () => null,
    isMountPoint: () => false,
    isReadWrite: () => true,
    glob: () => false,
    kernelCommandLine: () => "",
    kernelRelease: () => FAKE_HOST_FACTS.kernelRelease,
    architecture: () => "x86-64",
    hostname: () => "fake",
    machineId: () => FAKE_HOST_FACTS.machineId,
    env: () => undefined,
    uid: () => 0,
    userName: () => "root",
    groups: () => ["root"],
    virtualization: () => "none",
    memoryBytes: () => 1 << 30,
    cpus: () => 2,
    osRelease: () => FAKE_HOST_FACTS.osRelease,
    firstBoot: () => false,
    kernelModuleLoaded: () => false,
  };
}

export interface Transition {
  unit: string;
  from: string;
  to: string;
  at: number;
}

/** The manager, faked: every host interface a unit takes, recording what units ask of it. */
export class FakeHost implements ServiceHost, SocketHost {
  readonly clock = new SteppedClock();
  readonly logger: Logger;
  readonly records: LogRecord[] = [];
  readonly spawner = new FakeSpawner();
  readonly killer = new FakeKiller(this.spawner);
  readonly watcher = new FakeFdWatch();
  readonly processes = new FakeProcessWatcher(this.watcher, this.spawner);
  readonly probe = new FakeProbe(this.spawner);
  /** PIDFile= contents by path, with owner and whether a symlink led there (absent: not written yet). */
  readonly pidFileContents = new Map<string, { text: string; uid: number; viaLink: boolean }>();
  readonly pidFiles = { read: (path: string) => this.pidFileContents.get(path) ?? null };
  /** OpenFile=: none set means the real file system. */
  fileOpener: FileOpener | undefined = undefined;
  readonly users = new Map<string, { uid: number; gid: number; home: string; shell: string }>();
  readonly groups = new Map<string, number>();
  readonly files = new Map<string, string>();
  readonly lookups: SystemLookups;
  daemonEnv: Record<string, string | undefined> = {};
  managerEnv: Record<string, string> = { PATH: "/usr/bin:/bin" };
  readonly units = new Map<string, UnitRuntime>();
  readonly transitions: Transition[] = [];
  readonly startRequests: { name: string; reason: string }[] = [];
  /** requestStart's answer; when true the unit of that name is also started (in a microtask, like a queued job). */
  acceptStarts = true;
  readonly jobs = new Set<string>();
  readonly stopJobs = new Set<string>();
  readonly conflicts = new Set<string>();
  readonly closedFds: number[] = [];
  readonly finished: string[] = [];
  readonly accepted: { socket: string; instance: string; conn: AcceptedConnection }[] = [];
  acceptInstances = true;
  /** Per service: the socket fds it receives, and their environment. */
  readonly serviceFds = new Map<string, { fd: number; name: string }[]>();
  readonly serviceEnv = new Map<string, Record<string, string>>();
  readonly conditionPaths = new Set<string>();
  readonly conditionEnv: ConditionEnv = fakeConditionEnv(this.conditionPaths);
  dirs = { runtime: "/nonexistent/run", state: "/nonexistent/state", cache: "/nonexistent/cache", logs: "/nonexistent/logs", config: "/nonexistent/config" };
  notifySocket: string | null = "/run/bunit/notify";
  /** null: process groups only; useCgroups() installs a FakeCgroups. */
  cgroups: CgroupTree | null = null;
  private fakeCgroups: FakeCgroups | null = null;
  orphans: number[] = [];
  readonly usbReadiness = new FunctionReadiness();
  readonly ep0 = new FakeEp0();

  constructor() {
    this.logger = new Logger("debug", () => this.clock.wallMs());
    this.logger.addSink((r) => this.records.push(r));
    this.lookups = {
      user: (name) => this.users.get(name) ?? null,
      userById: (uid) => {
        for (const [name, u] of this.users) if (u.uid === uid) return { name, home: u.home, gid: u.gid };
        return null;
      },
      group: (name) => this.groups.get(name) ?? null,
      readFile: (p) => this.files.get(p) ?? null,
    };
  }

  /** What a real Manager takes from this fake (its tests add unitPath): no notify socket, no cgroups, no daemon environment. */
  managerParts() {
    return {
      logger: this.logger,
      host: FAKE_HOST_FACTS,
      clock: this.clock,
      spawner: this.spawner,
      killer: this.killer,
      watcher: this.watcher,
      lookups: this.lookups,
      conditionEnv: this.conditionEnv,
      dirs: this.dirs,
      managerEnv: this.managerEnv,
      daemonEnv: {},
      notifySocket: null,
      cgroups: null,
    };
  }

  /** Registers a unit so unit(name) finds it; returns it. */
  add<U extends UnitRuntime>(u: U): U {
    this.units.set(u.name, u);
    return u;
  }

  unit(name: string): UnitRuntime | null {
    return this.units.get(name) ?? null;
  }
  requestStart(name: string, reason: string): boolean {
    this.startRequests.push({ name, reason });
    if (!this.acceptStarts) return false;
    const u = this.units.get(name);
    if (u) {
      this.jobs.add(name);
      queueMicrotask(() => {
        this.jobs.delete(name);
        u.start();
      });
    }
    return true;
  }
  hasJob(name: string): boolean {
    return this.jobs.has(name);
  }
  stateChanged(unit: UnitRuntime, from: string, to: string): void {
    this.transitions.push({ unit: unit.name, from, to, at: this.clock.now() });
  }

  // ServiceHost
  socketFds(service: ServiceUnit): { fd: number; name: string }[] {
    return this.serviceFds.get(service.name) ?? [];
  }
  socketEnvironment(service: ServiceUnit): Record<string, string> {
    return this.serviceEnv.get(service.name) ?? {};
  }
  instanceFinished(service: ServiceUnit): void {
    this.finished.push(service.name);
  }
  closeFd(fd: number): void {
    this.closedFds.push(fd);
  }
  orphanChildren(): number[] {
    return this.orphans;
  }

  // SocketHost
  startAcceptedInstance(socket: SocketUnit, instance: string, conn: AcceptedConnection): boolean {
    this.accepted.push({ socket: socket.name, instance, conn });
    return this.acceptInstances;
  }
  startWouldConflict(serviceName: string): boolean {
    return this.conflicts.has(serviceName);
  }
  hasStopJob(name: string): boolean {
    return this.stopJobs.has(name);
  }

  // ---- for the tests ----

  /** Tracks processes by (fake) cgroups from now on (units take a cgroup at their next start); idempotent. */
  useCgroups(): FakeCgroups {
    this.fakeCgroups ??= new FakeCgroups(this.spawner);
    this.cgroups = this.fakeCgroups;
    return this.fakeCgroups;
  }

  /** Lets promise callbacks run (process exits, control chains moving to their next command). */
  async settle(): Promise<void> {
    for (let i = 0; i < 3; i++) await new Promise<void>((r) => setImmediate(r));
  }

  /** Moves the clock by usec, firing timers in order and settling after each one. */
  async advance(usec: number): Promise<void> {
    const end = this.clock.now() + usec;
    await this.settle();
    for (;;) {
      const at = this.clock.nextDeadline();
      if (at === null || at > end) break;
      this.clock.fake.advance(Math.max(0, at - this.clock.now()));
      await this.settle();
    }
    this.clock.fake.advance(end - this.clock.now());
    await this.settle();
  }

  /** "from>to" of a unit's transitions, in order. */
  path(unit: string): string[] {
    return this.transitions.filter((t) => t.unit === unit).map((t) => `${t.from}>${t.to}`);
  }
  /** The states a unit went through, starting with the first transition's origin. */
  states(unit: string): string[] {
    const ts = this.transitions.filter((t) => t.unit === unit);
    return ts.length ? [ts[0]!.from, ...ts.map((t) => t.to)] : [];
  }
  /** Daemon messages about a unit (or all). */
  messages(unit?: string): string[] {
    return this.records.filter((r) => r.source === "daemon" && (unit === undefined || r.unit === unit)).map((r) => r.message);
  }
}
