/**
 * ListenUSBFunction= for a socket unit: writing the activated service's descriptors and
 * strings to ep0 when the port opens (the mount is then ready for the gadget composer), and
 * X-USBActivationEvent=enable (ep0 events are read, SETUPs stalled, until the host enables the
 * function; the service then gets USB_FUNCTION_STATE=enabled).
 */
import type { UnitLog } from "../core/log.ts";
import { errorText } from "../core/errors.ts";
import type { ServiceConfig } from "../unit/service-config.ts";
import { waitForEnable, type Ep0Io } from "../usb/ep0-reader.ts";
import { loadUsbBlobs, openUsbFunction } from "../usb/ffs-port.ts";
import type { FunctionReadiness } from "../usb/function-readiness.ts";

export class UsbActivation {
  /** Set when the service was activated on ENABLE. */
  private enabledSeen = false;

  constructor(
    private readonly readiness: FunctionReadiness,
    private readonly ep0: Ep0Io,
    private readonly log: UnitLog,
  ) {}

  /** Opens the FunctionFS mount at path with the descriptors of the service this socket activates. */
  open(path: string, service: ServiceConfig | undefined, serviceName: string): { ep0: number; endpoints: number[]; endpointNames: string[] } {
    const blobs = loadUsbBlobs(service?.usbFunctionDescriptors, service?.usbFunctionStrings, serviceName);
    const r = openUsbFunction(path, blobs);
    this.readiness.mark(path, true);
    this.log.info(`FunctionFS ${path}: descriptors written (${blobs.source}), ${r.endpointNames.length} endpoint files`);
    return r;
  }

  /** A port adopted across daemon-reexec: its descriptors were written by the previous process. */
  adopted(path: string): void {
    this.readiness.mark(path, true);
  }

  /** The port is being closed: the function loses its descriptors. */
  closed(path: string): void {
    this.readiness.mark(path, false);
  }

  /** ep0 is readable: whether the host has enabled the function yet (SETUPs meanwhile are stalled). */
  enabled(fd: number): boolean {
    let r: ReturnType<typeof waitForEnable>;
    try {
      r = waitForEnable(fd, this.ep0, this.log);
    } catch (e) {
      this.log.warning(`Reading ep0 events: ${errorText(e)}`);
      return false;
    }
    if (r === "enabled") return (this.enabledSeen = true);
    if (r !== "pending") this.log.warning(`Reading ep0 events: ${r.error}`);
    return false;
  }

  /** Variables the activated service gets. */
  environment(): Record<string, string> {
    return this.enabledSeen ? { USB_FUNCTION_STATE: "enabled" } : {};
  }
}
