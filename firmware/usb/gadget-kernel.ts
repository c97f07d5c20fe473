/**
 * The real GadgetIo: configfs under /sys/kernel/config, UDCs in /sys/class/udc, FunctionFS
 * mounted with mount(2), readiness from the ListenUSBFunction= sockets of this daemon or, for
 * a function whose service writes its own descriptors, from the endpoint files appearing.
 * The readiness is the daemon's one FunctionReadiness, the same instance its sockets mark.
 */
import { readdirSync, readFileSync, rmdirSync } from "node:fs";
import { realClock, type Clock } from "../core/clock.ts";
import * as n from "../native.ts";
import type { FunctionReadiness } from "./function-readiness.ts";
import type { GadgetIo } from "./gadget.ts";

/** Unescapes a /proc/mounts field (\040 for a space, and so on). */
const unescapeMount = (s: string) => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));

export function parseProcMounts(text: string): { source: string; target: string; fstype: string }[] {
  return text
    .split("\n")
    .filter(Boolean)
    .map((l) => {
      const [source = "", target = "", fstype = ""] = l.split(" ");
      return { source: unescapeMount(source), target: unescapeMount(target), fstype };
    });
}

/** readiness: the instance the daemon's ListenUSBFunction= sockets mark. */
export function kernelGadgetIo(
  log: GadgetIo["log"],
  readiness: FunctionReadiness,
  clock: Clock = realClock,
  roots = { gadgetRoot: "/sys/kernel/config/usb_gadget", udcClass: "/sys/class/udc" },
): GadgetIo {
  return {
    ...roots,
    mountFfs: (instance, path) => n.mount(instance, path, "functionfs", 0, ""),
    ffsMounts: (instance) =>
      parseProcMounts(readFileSync("/proc/mounts", "utf8"))
        .filter((m) => m.fstype === "functionfs" && m.source === instance)
        .map((m) => m.target),
    umount: (path) => n.umount(path),
    rmdir: (path) => rmdirSync(path),
    functionReady: (mount) => {
      if (readiness.ready(mount)) return true;
      try {
        return readdirSync(mount).some((f) => f !== "ep0" && !f.startsWith("."));
      } catch {
        return false;
      }
    },
    onReadyChange: (fn) => readiness.onChange(() => fn()),
    clock,
    log,
  };
}
