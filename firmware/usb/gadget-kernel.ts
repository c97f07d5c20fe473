/**
 * The real GadgetIo: configfs under /sys/kernel/config, UDCs in /sys/class/udc, FunctionFS
 * mounted with mount(2), readiness from the ListenUSBFunction= sockets of this daemon or, for
 * a function whose service writes its own descriptors, from the endpoint files appearing.
 */
import { readdirSync, readFileSync, rmdirSync } from "node:fs";
import { realClock, type Clock } from "../core/clock.ts";
import * as n from "../native.ts";
import { functionReady, onFunctionReadyChange } from "./ffs-port.ts";
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

export function kernelGadgetIo(log: GadgetIo["log"], clock: Clock = realClock, roots = { gadgetRoot: "/sys/kernel/config/usb_gadget", udcClass: "/sys/class/udc" }): GadgetIo {
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
      if (functionReady(mount)) return true;
      try {
        return readdirSync(mount).some((f) => f !== "ep0" && !f.startsWith("."));
      } catch {
        return false;
      }
    },
    onReadyChange: (fn) => onFunctionReadyChange(() => fn()),
    clock,
    log,
  };
}
