/**
 * The fake host for socket unit tests: FakeHost plus a fake service the socket activates, the
 * manager's part of the conversation (service state changes reach the socket, a stopped unit
 * tells deferred sockets), real AF_UNIX paths in a temporary directory and client connections
 * to them. Every socket transition any test makes is also recorded in `reachedTransitions`, so
 * one test can check the whole transition table was covered.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as n from "../native.ts";
import * as C from "../sys/constants.ts";
import { FakeHost, unitFromText } from "./fake-host.ts";
import type { ActiveState, UnitRuntime } from "../runtime/unit-runtime.ts";
import type { LoadedUnit } from "../unit/unit-file.ts";
import { SocketUnit } from "../socket/socket-unit.ts";

/** "from>to" of every socket transition made by any SocketTestHost in this process. */
export const reachedTransitions = new Set<string>();

/**
 * The service a socket activates, reduced to its states: start() goes to activating (or
 * straight to active with `startsActive`), the test moves it on with set().
 */
export class FakeService {
  readonly config: LoadedUnit;
  active: ActiveState = "inactive";
  sub = "dead";
  result = "success";
  startLimitHit = false;
  stateChangeTime = 0;
  starts = 0;
  stops = 0;
  /** What start() leads to. */
  startsActive = true;

  constructor(
    readonly name: string,
    private readonly host: SocketTestHost,
  ) {
    this.config = unitFromText(name, "[Service]\nExecStart=/bin/true\n");
  }
  activeState(): ActiveState {
    return this.active;
  }
  subState(): string {
    return this.sub;
  }
  canStart(): string | null {
    return null;
  }
  start(): void {
    this.starts++;
    if (this.startsActive) this.set("active", "running");
    else this.set("activating", "start");
  }
  stop(): void {
    this.stops++;
    this.set("inactive", "dead");
  }
  dispose(): void {}
  /** A state change, told to the host as a real unit would. */
  set(active: ActiveState, sub: string): void {
    const from = this.sub;
    this.active = active;
    this.sub = sub;
    this.host.stateChanged(this as unknown as UnitRuntime, from, sub);
  }
}

export class SocketTestHost extends FakeHost {
  readonly dir: string;
  readonly sockets: SocketUnit[] = [];
  private readonly clients: number[] = [];

  constructor() {
    super();
    this.dir = mkdtempSync(join(tmpdir(), "bunit-sock-"));
    // A monotonic clock never reads 0 (RateLimit takes 0 as "no window yet" and moves it to 1 µs).
    this.clock.fake.advance(1_000_000);
  }

  /** A socket unit from [Socket] lines ("%d" in them is the temporary directory). */
  socket(body: string, name = "s.socket", unitSection = ""): SocketUnit {
    const text = `${unitSection ? `[Unit]\n${unitSection}\n` : ""}[Socket]\n${body.replaceAll("%d", this.dir)}\n`;
    const s = this.add(new SocketUnit(unitFromText(name, text), this));
    this.sockets.push(s);
    return s;
  }

  /** A fake service registered under name. */
  service(name = "s.service"): FakeService {
    const svc = new FakeService(name, this);
    this.units.set(name, svc as unknown as UnitRuntime);
    return svc;
  }

  /** What the manager does on a state change: tell the activating sockets, then stopped-unit listeners. */
  override stateChanged(unit: UnitRuntime, from: string, to: string): void {
    super.stateChanged(unit, from, to);
    if (unit instanceof SocketUnit) {
      if (from !== to) reachedTransitions.add(`${from}>${to}`);
      return;
    }
    for (const s of this.sockets) s.triggeredUnitChanged(unit);
    const active = unit.activeState();
    if (active === "inactive" || active === "failed") for (const s of this.sockets) s.unitStopped();
  }

  /** Closes an fd for real (an accepted connection's), and records it. */
  override closeFd(fd: number): void {
    super.closeFd(fd);
    try {
      n.close(fd);
    } catch {
      /* closed */
    }
  }

  /** "*": whether any job runs (as the manager answers it). */
  override hasJob(name: string): boolean {
    return name === "*" ? this.jobs.size > 0 : this.jobs.has(name);
  }

  /** The listening fd of a socket's nth port. */
  fd(s: SocketUnit, i = 0): number {
    const p = s.ports[i];
    if (!p) throw new Error(`${s.name} has no port ${i} (state ${s.state})`);
    return p.fd;
  }

  /** Readiness on a socket's port, as epoll would report it; false when it is not watched. */
  ready(s: SocketUnit, i = 0, revents = C.EPOLLIN): boolean {
    return this.watcher.fire(this.fd(s, i), revents);
  }

  /** Connects a client to an AF_UNIX path (the connection waits in the listen queue). */
  connect(path: string): number {
    const fd = n.socket(C.AF_UNIX, C.SOCK_STREAM | C.SOCK_CLOEXEC);
    this.clients.push(fd);
    n.connect(fd, { family: "unix", path: path.replaceAll("%d", this.dir), abstract: false });
    return fd;
  }

  /** Closes client fds, the sockets' fds, and removes the directory. */
  cleanup(): void {
    for (const s of this.sockets) s.dispose();
    for (const fd of this.clients) {
      try {
        n.close(fd);
      } catch {
        /* closed */
      }
    }
    for (const a of this.accepted) a.conn.release();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
