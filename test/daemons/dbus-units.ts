/** The D-Bus system bus's shipped units with the changes the daemons tier makes (dbus and proxyd tests). */
import { changed, shippedUnit, type UnitChange } from "./setup.ts";

/** Every change made to dbus.socket and dbus.service (also listed in README.md). */
export const dbusChanges: { socket: UnitChange[]; service: UnitChange[] } = {
  socket: [
    {
      from: "ListenStream=/run/dbus/system_bus_socket",
      to: "ListenStream=@DIR@/system_bus_socket",
      why: "path: a temp socket instead of the host's system bus",
    },
  ],
  service: [
    {
      from: "dbus-send --print-reply --system ",
      to: "dbus-send --print-reply --bus=unix:path=@DIR@/system_bus_socket ",
      why: "path: ExecReload= talks to the moved socket (--system means /run/dbus/system_bus_socket)",
    },
  ],
};

export function dbusUnits(): Record<string, string> {
  return {
    "dbus.socket": changed(shippedUnit("dbus.socket"), dbusChanges.socket),
    "dbus.service": changed(shippedUnit("dbus.service"), dbusChanges.service),
  };
}
