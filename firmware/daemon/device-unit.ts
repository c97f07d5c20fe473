/**
 * Device units, as systemd names them, driven by uevents (no udev needed):
 *   sys-subsystem-net-devices-usb0.device   network interface usb0
 *   sys-devices-virtual-net-usb0.device     a /sys path
 *   dev-ttyGS0.device                       a /dev node
 * A device unit is active while the device exists ("plugged"). Units that name one in
 * [Install] WantedBy= start when it appears (the systemd way to start a socket on a device);
 * BindsTo= makes them stop when it goes; a start job for an absent device waits for it (up to
 * JobTimeoutSec=, 90 s by default) and fails with "timeout" then.
 */
import { existsSync } from "node:fs";
import { UnitRuntime, type ActiveState, type UnitHost } from "../runtime/unit-runtime.ts";
import { UnitTimer } from "../core/unit-timer.ts";
import type { LoadedUnit } from "../unit/unit-file.ts";
import { parseUnitName, unescapeUnitPath } from "../unit/unit-name.ts";
import type { Uevent } from "../uevent/uevent.ts";

const NET_ALIAS = "/sys/subsystem/net/devices/";
export const DEVICE_JOB_TIMEOUT_USEC = 90e6;

/** The path a device unit stands for ("sys-subsystem-net-devices-usb0.device" -> "/sys/subsystem/net/devices/usb0"). */
export function devicePathOfUnit(name: string): string | null {
  const id = parseUnitName(name);
  if (!id || id.type !== "device") return null;
  return unescapeUnitPath(id.prefix);
}

/** The paths under which a uevent's device is known (the device unit names' paths). */
export function devicePathsOf(ev: Uevent): string[] {
  const out = [`/sys${ev.devpath}`];
  if (ev.env.DEVNAME) out.push(ev.env.DEVNAME.startsWith("/") ? ev.env.DEVNAME : `/dev/${ev.env.DEVNAME}`);
  if (ev.subsystem === "net" && ev.env.INTERFACE) out.push(NET_ALIAS + ev.env.INTERFACE);
  return out;
}

/** Whether the device exists now (coldplug). */
export function devicePresent(path: string, exists: (p: string) => boolean = existsSync): boolean {
  if (path.startsWith(NET_ALIAS)) return exists(`/sys/class/net/${path.slice(NET_ALIAS.length)}`);
  return exists(path);
}

export class DeviceUnit extends UnitRuntime {
  readonly path: string;
  plugged: boolean;
  /** Stopped by a job while plugged: inactive until the device goes and comes back. */
  private suppressed = false;
  private waiting = false;
  private readonly timer: UnitTimer;
  private readonly exists: (p: string) => boolean;

  constructor(config: LoadedUnit, host: UnitHost, exists: (p: string) => boolean = existsSync) {
    super(config, host, "success");
    this.path = devicePathOfUnit(config.name) ?? "/nonexistent";
    this.plugged = devicePresent(this.path, exists);
    this.timer = new UnitTimer(host.clock);
    this.exists = exists;
  }

  activeState(): ActiveState {
    if (this.plugged && !this.suppressed) return "active";
    return this.waiting ? "activating" : "inactive";
  }
  subState(): string {
    return this.plugged ? "plugged" : this.waiting ? "tentative" : "dead";
  }

  private change(fn: () => void): void {
    const before = this.subState();
    const wasActive = this.activeState();
    fn();
    if (before !== this.subState() || wasActive !== this.activeState()) this.host.stateChanged(this, before, this.subState());
  }

  start(): void {
    this.change(() => {
      this.suppressed = false;
      this.result = "success";
      if (this.plugged) return;
      this.waiting = true;
      this.log.info(`Waiting for device ${this.path}.`);
      this.timer.arm(DEVICE_JOB_TIMEOUT_USEC, () =>
        this.change(() => {
          this.waiting = false;
          this.result = "timeout";
          this.log.warning(`Job ${this.name}/start timed out: the device did not appear.`);
        }),
      );
    });
  }

  stop(): void {
    this.change(() => {
      this.timer.cancel();
      this.waiting = false;
      if (this.plugged) this.suppressed = true;
    });
  }

  /** A uevent for one of these paths: add/change/move plug the device, remove unplugs it. Returns whether it just appeared. */
  override deviceEvent(paths: readonly string[], action: string): boolean {
    if (!paths.includes(this.path)) return false;
    return this.plug(action !== "remove");
  }

  /** Looks for the device again (the uevent socket overflowed). */
  override deviceRescan(): boolean {
    return this.plug(devicePresent(this.path, this.exists));
  }

  /** A device unit follows its device through uevents. */
  override wantsUevents(): boolean {
    return true;
  }

  /** Present when the daemon starts: what wants the device starts now. */
  override presentAtBoot(): boolean {
    return this.plugged;
  }

  /** Devices are not unit files: daemon-reload has nothing to re-read. */
  override followsUnitFile(): boolean {
    return false;
  }

  private plug(plugged: boolean): boolean {
    if (plugged === this.plugged) return false;
    this.change(() => {
      this.plugged = plugged;
      this.suppressed = false;
      if (plugged) {
        this.waiting = false;
        this.timer.cancel();
        this.result = "success";
      }
      this.log.info(plugged ? `Device ${this.path} appeared.` : `Device ${this.path} is gone.`);
    });
    return plugged;
  }

  override dispose(): void {
    this.timer.cancel();
  }
}
