/**
 * The USB rules a FunctionFS function description must follow, beyond its shape
 * (descriptor-spec.ts reads the shape): endpoint packet sizes and intervals per speed
 * (USB 2.0 and USB 3.2, 9.6.6), the class descriptors f_fs accepts, interface numbering and
 * endpoint addresses. Each rule reports to a Walk with the key path it is about. Pure.
 */
import type { Walk } from "../lib/description-schema.ts";
import type { ClassDescriptorSpec, EndpointSpec, EndpointType, InterfaceSpec, Speed } from "./descriptor-types.ts";

export const DEFAULT_MAX_PACKET: Record<EndpointType, Record<Speed, number>> = {
  bulk: { full: 64, high: 512, super: 1024 },
  interrupt: { full: 64, high: 64, super: 64 },
  isochronous: { full: 1023, high: 1024, super: 1024 },
};
export const DEFAULT_INTERVAL: Record<EndpointType, Record<Speed, number>> = {
  bulk: { full: 0, high: 0, super: 0 },
  interrupt: { full: 10, high: 4, super: 4 },
  isochronous: { full: 1, high: 1, super: 1 },
};

/** Packet sizes and intervals an endpoint may have at the speeds the function runs at. */
export function checkEndpointLimits(w: Walk, path: string, e: EndpointSpec, speeds: readonly Speed[]): void {
  const { type, maxPacket, interval } = e;
  const mp = `${path}.max_packet`;
  if (speeds.includes("full")) {
    if (type === "bulk" && ![8, 16, 32, 64].includes(maxPacket.full))
      w.add(`${mp}.full`, `full-speed bulk endpoints use 8, 16, 32 or 64 bytes, not ${maxPacket.full}`);
    if (type === "interrupt" && maxPacket.full > 64) w.add(`${mp}.full`, "full-speed interrupt endpoints use at most 64 bytes");
    if (type === "isochronous" && maxPacket.full > 1023) w.add(`${mp}.full`, "full-speed isochronous endpoints use at most 1023 bytes");
  }
  if (speeds.includes("high") && type === "bulk" && maxPacket.high !== 512)
    w.add(`${mp}.high`, `high-speed bulk endpoints use 512 bytes, not ${maxPacket.high}`);
  if (speeds.includes("super") && type === "bulk" && maxPacket.super !== 1024)
    w.add(`${mp}.super`, `SuperSpeed bulk endpoints use 1024 bytes, not ${maxPacket.super}`);
  const iv = `${path}.interval`;
  if (type === "interrupt") {
    if (speeds.includes("full") && (interval.full < 1 || interval.full > 255)) w.add(`${iv}.full`, "full-speed interrupt intervals are 1..255 ms");
    if (speeds.includes("high") && (interval.high < 1 || interval.high > 16))
      w.add(`${iv}.high`, "high-speed interrupt intervals are 1..16 (2^(n-1) microframes)");
    if (speeds.includes("super") && (interval.super < 1 || interval.super > 16)) w.add(`${iv}.super`, "SuperSpeed interrupt intervals are 1..16");
  }
  if (type === "isochronous") {
    for (const s of speeds) if (interval[s] < 1 || interval[s] > 16) w.add(`${iv}.${s}`, "isochronous intervals are 1..16");
  }
}

/** Rules about one endpoint's own settings: its address, and what applies to its type only. */
export function checkEndpointSettings(w: Walk, path: string, e: EndpointSpec, given: { address?: number; syncOrUsage: boolean }): void {
  if (given.address !== undefined && given.address & 0x70) w.add(`${path}.address`, "bits 4..6 must be zero");
  if (e.number === 0) w.add(path, "endpoint 0 is the control endpoint; use 1..15");
  if (given.syncOrUsage && e.type !== "isochronous") w.add(path, "sync and usage apply to isochronous endpoints only");
  if (e.mult && e.type === "bulk") w.add(`${path}.mult`, "bulk endpoints have no high-bandwidth mult");
}

/** A string descriptor holds at most 126 UTF-16 code units, and no NUL. */
export function usbStringOk(s: string): boolean {
  let units = 0;
  for (const c of s) units += c.codePointAt(0)! > 0xffff ? 2 : 1;
  return units <= 126 && !s.includes("\0");
}

/** What f_fs (Linux 6.1) accepts after an interface descriptor; anything else is refused. */
export function checkClassDescriptor(w: Walk, path: string, cls: number, d: ClassDescriptorSpec): void {
  const length = d.data.length + 2;
  if (length > 255) w.add(path, "a descriptor is at most 255 bytes");
  if (d.type === 0x21 && cls === 0x03) {
    if (length !== 9) w.add(path, `a HID descriptor is 9 bytes long (the kernel checks), this one is ${length}`);
    return;
  }
  if (d.type === 0x21 && cls === 0x0b) {
    if (length !== 54) w.add(path, `a CCID functional descriptor is 54 bytes long, this one is ${length}`);
    return;
  }
  if (d.type === 0x09 || d.type === 0x0b) {
    if (d.type === 0x0b && length !== 8) w.add(path, "an interface association descriptor is 8 bytes long");
    return;
  }
  w.add(
    path,
    `descriptor type 0x${d.type.toString(16)} after a class 0x${cls.toString(16)} interface: FunctionFS (Linux 6.1) accepts only HID (0x21 in class 3) and CCID (0x21 in class 0x0b) class descriptors here`,
  );
}

/** An interface with the key paths of it and its endpoints (items left out keep their index). */
export interface PlacedInterface {
  at: string;
  itf: InterfaceSpec;
  endpointPaths: string[];
}

/**
 * Interface numbers 0..n-1 in order, alternates of one number unique, each endpoint address
 * used once (alternate settings may reuse their interface's), at most 30 endpoints.
 * Returns how many interface numbers there are.
 */
export function checkInterfaceLayout(w: Walk, placed: PlacedInterface[]): number {
  const numbers = [...new Set(placed.map((p) => p.itf.number))];
  numbers.forEach((n, k) => {
    if (n !== k) w.add("interfaces", `interface numbers must be 0, 1, ... in order; found ${n} where ${k} was expected`);
  });
  const seen = new Set<string>();
  for (const { at, itf } of placed) {
    const key = `${itf.number}/${itf.alternate}`;
    if (seen.has(key)) w.add(at, `interface ${itf.number} alternate ${itf.alternate} is defined twice`);
    seen.add(key);
  }
  const addrs = new Map<number, string>();
  for (const { itf, endpointPaths } of placed) {
    itf.endpoints.forEach((e, j) => {
      const a = e.number | (e.direction === "in" ? 0x80 : 0);
      const prev = addrs.get(a);
      if (prev && itf.alternate === 0) w.add(endpointPaths[j]!, `endpoint 0x${a.toString(16)} is already used by ${prev}`);
      else if (!prev) addrs.set(a, endpointPaths[j]!);
    });
  }
  const epCount = placed.reduce((n, p) => n + p.itf.endpoints.length, 0);
  if (epCount > 30) w.add("interfaces", `FunctionFS supports at most 30 endpoints, this function has ${epCount}`);
  return numbers.length;
}
