/**
 * The hardware watchdog the daemon feeds, as systemd's RuntimeWatchdogSec= does: the device
 * (/dev/watchdogN) is opened, its timeout set (WDIOC_SETTIMEOUT; the driver may round it, the
 * value it answers is the one used), and it is pinged (WDIOC_KEEPALIVE) from the daemon's event
 * loop every half timeout. A daemon that hangs (SIGSTOP, a busy loop) stops feeding it, and the
 * hardware resets the board. A clean stop disarms it with the magic close ('V' written before
 * close); anything else (a crash, SIGKILL) leaves it armed so that only a restart in time saves
 * the board. The device I/O is injected: the state logic runs in tests without a device.
 */
import type { Clock, Timer } from "../core/clock.ts";
import { errorText } from "../core/errors.ts";

/** _IOR('W', 5, int) and _IOWR('W', 6, int) from <linux/watchdog.h>. */
export const WDIOC_KEEPALIVE = 0x80045705;
export const WDIOC_SETTIMEOUT = 0xc0045706;

export interface WatchdogDevice {
  /** Sets the timeout; returns the one the driver chose. */
  setTimeout(sec: number): number;
  ping(): void;
  /** Magic close: disarm, then close. */
  disarm(): void;
  /** Close without disarming (the watchdog keeps running). */
  close(): void;
}

export interface WatchdogLog {
  info(m: string): void;
  warning(m: string): void;
  error(m: string): void;
}

export class HardwareWatchdog {
  private readonly dev: WatchdogDevice;
  private readonly clock: Clock;
  private readonly log: WatchdogLog;
  private readonly path: string;
  private timer: Timer | null = null;
  private intervalUsec = 0;
  /** Pings sent (for status and tests). */
  pings = 0;
  /** The timeout the driver accepted. */
  timeoutSec = 0;

  constructor(path: string, dev: WatchdogDevice, clock: Clock, log: WatchdogLog) {
    this.path = path;
    this.dev = dev;
    this.clock = clock;
    this.log = log;
  }

  /** Arms the watchdog with sec and starts feeding it at half the accepted timeout. */
  start(sec: number): void {
    if (!Number.isInteger(sec) || sec < 1) throw new Error(`watchdog timeout must be a whole number of seconds >= 1, not ${sec}`);
    let got = sec;
    try {
      got = this.dev.setTimeout(sec);
    } catch (e) {
      this.log.warning(`${this.path}: cannot set the timeout to ${sec} s (${errorText(e)}); using the driver's`);
    }
    this.timeoutSec = got > 0 ? got : sec;
    if (got > 0 && got !== sec) this.log.info(`${this.path}: the driver chose a ${got} s timeout (asked for ${sec} s)`);
    this.intervalUsec = Math.max(1, (this.timeoutSec * 1_000_000) / 2);
    this.feed();
    this.log.info(`Hardware watchdog ${this.path} armed: ${this.timeoutSec} s timeout, pinged every ${this.intervalUsec / 1_000_000} s.`);
  }

  private feed(): void {
    try {
      this.dev.ping();
      this.pings++;
    } catch (e) {
      this.log.error(`${this.path}: ping failed: ${errorText(e)}`);
    }
    this.timer = this.clock.setTimer(this.intervalUsec, () => this.feed());
  }

  /** Stops feeding; disarm=true does the magic close (clean shutdown), false leaves it armed. */
  stop(disarm: boolean): void {
    this.timer?.cancel();
    this.timer = null;
    if (disarm) {
      this.dev.disarm();
      this.log.info(`Hardware watchdog ${this.path} disarmed.`);
    } else {
      this.dev.close();
    }
  }
}

/** Raw file-descriptor I/O the device needs (firmware/native.ts provides it). */
export interface WatchdogIo {
  open(path: string, flags: number): number;
  ioctl(fd: number, request: number, arg: Uint8Array | null): number;
  write(fd: number, data: Uint8Array): number | null;
  close(fd: number): void;
}

/** O_WRONLY | O_CLOEXEC: the fd is not inherited by services (nor by a re-exec). */
const OPEN_FLAGS = 1 | 0o2000000;

/** The device behind /dev/watchdogN through the given I/O. */
export function openWatchdog(path: string, io: WatchdogIo): WatchdogDevice {
  const fd = io.open(path, OPEN_FLAGS);
  return {
    setTimeout(sec) {
      const arg = new Uint8Array(4);
      new DataView(arg.buffer).setInt32(0, sec, true);
      io.ioctl(fd, WDIOC_SETTIMEOUT, arg);
      return new DataView(arg.buffer).getInt32(0, true);
    },
    ping() {
      io.ioctl(fd, WDIOC_KEEPALIVE, null);
    },
    disarm() {
      io.write(fd, new TextEncoder().encode("V"));
      io.close(fd);
    },
    close() {
      io.close(fd);
    },
  };
}
