/**
 * Watching a socket unit's listening fds: EPOLLIN on each port while the unit listens, the
 * per-port poll limit (PollLimitIntervalSec=/PollLimitBurst=: a port over its burst goes
 * offline until its window ends; the unit does not fail), and holding (daemon-reexec waiting
 * for jobs to settle: connections wait in the kernel meanwhile).
 */
import type { Clock } from "../core/clock.ts";
import type { FdWatch } from "../core/fd-watch.ts";
import { RateLimit } from "../core/rate-limit.ts";
import { UnitTimer } from "../core/unit-timer.ts";
import { EPOLLIN } from "../sys/constants.ts";
import type { OpenedPort } from "./socket-open.ts";

export interface PortWatchOwner {
  /** Whether the unit is listening now (ready events are taken only then). */
  listening(): boolean;
  /** The poll limit in force. */
  pollLimit(): { intervalUsec: number; burst: number };
  /** A port is ready and within its poll limit. */
  ready(port: OpenedPort, revents: number): void;
  /** A port went over its poll limit (it comes back by itself). */
  limited(port: OpenedPort): void;
}

export class PortWatch {
  private readonly limits = new Map<number, { limit: RateLimit; timer: UnitTimer }>();
  private ports: readonly OpenedPort[] = [];
  private heldNow = false;

  constructor(
    private readonly watcher: FdWatch,
    private readonly clock: Clock,
    private readonly owner: PortWatchOwner,
  ) {}

  get held(): boolean {
    return this.heldNow;
  }

  /** Holds (true) or resumes watching; returns whether anything changed. */
  hold(on: boolean): boolean {
    if (this.heldNow === on) return false;
    this.heldNow = on;
    if (on) this.pause();
    else if (this.owner.listening()) this.watch(this.ports);
    return true;
  }

  /**
   * Watches these ports (the unit's current ones) for EPOLLIN, unless held. Each call starts the
   * poll limit afresh, as systemd's socket_watch_fds() does (sd_event_source_set_ratelimit()
   * resets the state): the limit counts events while the socket stays listening.
   */
  watch(ports: readonly OpenedPort[]): void {
    this.ports = ports;
    if (this.heldNow) return;
    const { intervalUsec, burst } = this.owner.pollLimit();
    for (const p of ports) {
      const pl = this.limits.get(p.fd);
      if (!pl) {
        this.limits.set(p.fd, { limit: new RateLimit(intervalUsec, burst), timer: new UnitTimer(this.clock) });
        this.watcher.watch(p.fd, EPOLLIN, (rev) => this.onReady(p, rev));
      } else {
        pl.timer.cancel();
        pl.limit = new RateLimit(intervalUsec, burst);
        this.watcher.arm(p.fd, EPOLLIN);
      }
    }
  }

  /** Stops taking events (the fds stay registered). */
  pause(): void {
    for (const p of this.ports) {
      const pl = this.limits.get(p.fd);
      if (!pl) continue;
      pl.timer.cancel();
      this.watcher.arm(p.fd, 0);
    }
  }

  /** Arms a port again after its event was handled. */
  rearm(p: OpenedPort): void {
    if (this.owner.listening() && !this.heldNow && this.ports.includes(p)) this.watcher.arm(p.fd, EPOLLIN);
  }

  /** Stops watching one port for usec (out of fds: what is queued waits in the kernel), then arms it again. */
  pauseFor(p: OpenedPort, usec: number): void {
    const pl = this.limits.get(p.fd);
    if (!pl) return;
    this.watcher.arm(p.fd, 0);
    pl.timer.arm(usec, () => this.rearm(p));
  }

  /** Forgets a port that is being closed. */
  forget(p: OpenedPort): void {
    this.limits.get(p.fd)?.timer.cancel();
    this.limits.delete(p.fd);
    this.watcher.forget(p.fd);
    this.ports = this.ports.filter((x) => x !== p);
  }

  private onReady(p: OpenedPort, revents: number): void {
    if (!this.owner.listening() || this.heldNow || !this.ports.includes(p)) return;
    const pl = this.limits.get(p.fd)!;
    const now = this.clock.now();
    if (!pl.limit.below(now)) {
      this.owner.limited(p);
      pl.timer.arm(Math.max(0, pl.limit.windowEnd() - now), () => this.rearm(p));
      return;
    }
    this.owner.ready(p, revents);
  }
}
