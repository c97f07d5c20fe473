/**
 * Kernel uevents (NETLINK_KOBJECT_UEVENT), parsed and validated as udev does. Pure.
 *
 * The kernel sends "ACTION@DEVPATH\0" followed by "KEY=VALUE\0" fields (ACTION, DEVPATH,
 * SUBSYSTEM, SEQNUM, ...). libudev rebroadcasts on group 2 with its own header ("libudev\0",
 * magic 0xfeedcafe, offsets to the same KEY=VALUE block). A message is accepted only when it
 * comes from the kernel (sender port id 0) with credentials of uid 0 and was not truncated;
 * udev applies the same rules (sd-device-monitor.c: "sender uid=... discarding", "unicast
 * netlink message ignored", "multicast kernel netlink message from PID ... ignored").
 */

export interface Uevent {
  action: string;
  devpath: string;
  subsystem: string;
  seqnum: bigint | null;
  /** Every KEY=VALUE field, ACTION/DEVPATH/SUBSYSTEM/SEQNUM included. */
  env: Record<string, string>;
  source: "kernel" | "udev" | "coldplug";
}

export class UeventError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UeventError";
  }
}

/** The kernel's limit on a uevent's environment (UEVENT_BUFFER_SIZE) plus the header. */
export const UEVENT_MAX = 2048 + 512;
export const UDEV_MONITOR_MAGIC = 0xfeedcafe;
const ACTIONS = new Set(["add", "remove", "change", "move", "online", "offline", "bind", "unbind"]);

function fieldsToUevent(fields: string[], source: Uevent["source"], where: string): Uevent {
  const env: Record<string, string> = {};
  for (const f of fields) {
    const eq = f.indexOf("=");
    if (eq <= 0) throw new UeventError(`${where}: field ${JSON.stringify(f.slice(0, 40))} is not KEY=VALUE`);
    env[f.slice(0, eq)] = f.slice(eq + 1);
  }
  for (const k of ["ACTION", "DEVPATH", "SUBSYSTEM"]) if (!env[k]) throw new UeventError(`${where}: no ${k}=`);
  if (!ACTIONS.has(env.ACTION!)) throw new UeventError(`${where}: unknown ACTION=${env.ACTION}`);
  if (!env.DEVPATH!.startsWith("/")) throw new UeventError(`${where}: DEVPATH=${env.DEVPATH} is not absolute`);
  let seqnum: bigint | null = null;
  if (env.SEQNUM !== undefined) {
    if (!/^\d{1,20}$/.test(env.SEQNUM)) throw new UeventError(`${where}: SEQNUM=${env.SEQNUM} is not a number`);
    seqnum = BigInt(env.SEQNUM);
  }
  return { action: env.ACTION!, devpath: env.DEVPATH!, subsystem: env.SUBSYSTEM!, seqnum, env, source };
}

function splitNul(b: Uint8Array, where: string): string[] {
  const text = new TextDecoder("utf-8", { fatal: false }).decode(b);
  const parts = text.split("\0");
  // A well-formed block ends with NUL: the last part is empty.
  if (parts[parts.length - 1] !== "") throw new UeventError(`${where}: the last field is not NUL-terminated (truncated?)`);
  parts.pop();
  return parts;
}

/** A message as the kernel sends it. */
export function parseKernelUevent(b: Uint8Array): Uevent {
  if (b.length === 0) throw new UeventError("empty message");
  if (b.length > UEVENT_MAX) throw new UeventError(`message of ${b.length} bytes is larger than a uevent can be`);
  const parts = splitNul(b, "kernel uevent");
  const header = parts.shift() ?? "";
  const at = header.indexOf("@");
  if (at <= 0) throw new UeventError(`kernel uevent: header ${JSON.stringify(header.slice(0, 60))} is not ACTION@DEVPATH`);
  const ev = fieldsToUevent(parts, "kernel", "kernel uevent");
  // The header must say what the fields say.
  if (header.slice(0, at) !== ev.action || header.slice(at + 1) !== ev.devpath) {
    throw new UeventError(`kernel uevent: header ${header} does not match ACTION=${ev.action} DEVPATH=${ev.devpath}`);
  }
  return ev;
}

/** A libudev monitor message (udevd's rebroadcast on group 2). */
export function parseUdevMessage(b: Uint8Array): Uevent {
  const prefix = new TextDecoder().decode(b.subarray(0, 8));
  if (b.length < 40 || prefix !== "libudev\0") throw new UeventError("udev message: no libudev header");
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  if (dv.getUint32(8, false) !== UDEV_MONITOR_MAGIC) throw new UeventError("udev message: bad magic");
  const headerSize = dv.getUint32(12, true);
  const off = dv.getUint32(16, true);
  const len = dv.getUint32(20, true);
  if (headerSize < 40 || off < headerSize || len === 0 || off + len > b.length) {
    throw new UeventError(`udev message: properties at ${off}+${len} are outside the ${b.length}-byte message`);
  }
  return fieldsToUevent(splitNul(b.subarray(off, off + len), "udev message"), "udev", "udev message");
}

/** Either format, decided by the first bytes. */
export function parseUevent(b: Uint8Array): Uevent {
  return b.length >= 8 && new TextDecoder().decode(b.subarray(0, 8)) === "libudev\0" ? parseUdevMessage(b) : parseKernelUevent(b);
}

export interface SenderInfo {
  /** nl_pid of the sender address; 0 is the kernel. */
  portId: number | null;
  /** nl_groups the message was sent to (0 = unicast). */
  groups: number;
  creds: { pid: number; uid: number } | null;
  truncated: boolean;
}

/** Why a kernel-group message must be dropped, or null to accept it. */
export function rejectSender(s: SenderInfo): string | null {
  if (s.truncated) return "truncated message";
  if (s.portId === null) return "no sender address";
  if (s.groups === 0) return "unicast netlink message";
  if (s.portId !== 0) return `sender port id ${s.portId} is not the kernel`;
  if (!s.creds) return "no sender credentials";
  if (s.creds.uid !== 0) return `sender uid ${s.creds.uid} is not root`;
  return null;
}

/** A uevent file in /sys (KEY=VALUE lines) as a "coldplug" add event for DEVPATH. */
export function ueventFromSysfs(devpath: string, text: string, subsystem: string): Uevent {
  const fields = text.split("\n").filter(Boolean);
  const env: Record<string, string> = { ACTION: "add", DEVPATH: devpath, SUBSYSTEM: subsystem };
  for (const f of fields) {
    const eq = f.indexOf("=");
    if (eq > 0) env[f.slice(0, eq)] = f.slice(eq + 1);
  }
  return { action: "add", devpath, subsystem, seqnum: null, env, source: "coldplug" };
}

/** A match such as "net/usb0" (SUBSYSTEM/name, name = INTERFACE, DEVNAME or the last DEVPATH part). */
export function matchesDevice(ev: Uevent, spec: string): boolean {
  const slash = spec.indexOf("/");
  const subsystem = slash >= 0 ? spec.slice(0, slash) : spec;
  const name = slash >= 0 ? spec.slice(slash + 1) : "";
  if (ev.subsystem !== subsystem) return false;
  if (!name) return true;
  const own = ev.env.INTERFACE ?? ev.env.DEVNAME?.replace(/^\/dev\//, "") ?? ev.devpath.split("/").pop();
  return own === name;
}
