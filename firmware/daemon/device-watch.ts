/**
 * Retries sockets that wait for a device (a BindToDevice= interface, a vsock transport) as soon
 * as the kernel reports one: a uevent monitor, opened only while some socket waits, calls
 * `onDevice` for every "add" of a network interface or a module ("add@/module/vsock_loopback").
 * Without netlink (or in a container without uevents) the sockets' own retry timers remain.
 */
import { UeventMonitor } from "../uevent/monitor.ts";
import type { Uevent } from "../uevent/uevent.ts";

export class DeviceWatch {
  private monitor: UeventMonitor | null = null;
  private failed = false;

  constructor(
    private readonly onDevice: (ev: Uevent) => void,
    private readonly log: { debug(m: string): void; warning(m: string): void },
  ) {}

  /** Opens the monitor if it is not open yet. */
  ensure(): void {
    if (this.monitor || this.failed) return;
    try {
      const m = UeventMonitor.open({ receiveBuffer: 1 << 20 });
      m.onEvent((ev) => {
        if (ev.action === "add" && (ev.subsystem === "net" || ev.subsystem === "module")) this.onDevice(ev);
      });
      m.onReject((why) => this.log.warning(`Dropped a uevent: ${why}`));
      m.onOverflow(() => this.onDevice({ action: "add", devpath: "/", subsystem: "net", seqnum: null, env: {}, source: "coldplug" }));
      this.monitor = m;
      this.log.debug("Watching uevents for sockets waiting on devices.");
    } catch (e) {
      this.failed = true;
      this.log.debug(`No uevent monitor (${(e as Error).message}); waiting sockets retry on their timers.`);
    }
  }

  close(): void {
    this.monitor?.close();
    this.monitor = null;
  }
}
