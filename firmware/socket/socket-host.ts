/**
 * What a socket unit needs from the manager beyond UnitHost.
 */
import type { DirectoryRoots } from "../exec/exec-directories.ts";
import type { AcceptedConnection } from "../runtime/connection.ts";
import type { UnitHost, UnitRuntime } from "../runtime/unit-runtime.ts";
import type { Ep0Io } from "../usb/ep0-reader.ts";
import type { FunctionReadiness } from "../usb/function-readiness.ts";

/** The part of the manager a socket needs beyond UnitHost. */
export interface SocketHost extends UnitHost {
  startAcceptedInstance(socket: UnitRuntime, instanceName: string, conn: AcceptedConnection): boolean;
  /** Whether starting this service now would stop an active unit (DeferTrigger=). */
  startWouldConflict(serviceName: string): boolean;
  hasStopJob(name: string): boolean;
  /** FunctionFS mounts with descriptors written (the gadget binds its UDC when all are). */
  usbReadiness: FunctionReadiness;
  /** The system calls on FunctionFS ep0. */
  ep0: Ep0Io;
  /** Directory roots for RuntimeDirectory= and friends in [Socket]. */
  dirs: DirectoryRoots;
}
