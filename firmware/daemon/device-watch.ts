/**
 * The manager's view of devices: a uevent monitor, opened only while something needs it (a
 * socket waiting for a BindToDevice= interface or a vsock transport, or a device unit), calls
 * `onDevice` for every validated kernel uevent, and `onRescan` after an overflow (events were
 * lost: device units re-check their devices, waiting sockets retry). Without netlink (or in a
 * container without uevents) the sockets' own retry timers remain. The monitor's socket is
 * watched by the manager's fd watcher.
 */
import { errorText } from "../core/errors.ts";
import type { FdWatch } from "../core/fd-watch.ts";
import { UeventMonitor } from "../uevent/monitor.ts";
import type { Uevent } from "../uevent/uevent.ts";

export class DeviceWatch {
  private monitor: UeventMonitor | null = null;
  private failed = false;

  constructor(
    private readonly onDevice: (ev: Uevent) => void,
    private readonly onRescan: () => void,
    private readonly log: { debug(m: string): void; warning(m: string): void },
    /** The manager's watcher. */
    private readonly watcher: FdWatch,
  ) {}

  /** Opens the monitor if it is not open yet. */
  ensure(): void {
    if (this.monitor || this.failed) return;
    try {
      const m = UeventMonitor.open({ receiveBuffer: 1 << 20, watcher: this.watcher });
      m.onEvent((ev) => this.onDevice(ev));
      m.onReject((why) => this.log.warning(`Dropped a uevent: ${why}`));
      m.onOverflow(() => {
        this.log.warning("uevent socket overflowed (ENOBUFS), rescanning devices.");
        this.onRescan();
      });
      this.monitor = m;
      this.log.debug("Watching uevents.");
    } catch (e) {
      this.failed = true;
      this.log.debug(`No uevent monitor (${errorText(e)}); waiting sockets retry on their timers.`);
    }
  }

  close(): void {
    this.monitor?.close();
    this.monitor = null;
  }
}
