/**
 * ep0 events of FunctionFS (struct usb_functionfs_event: an 8-byte usb_ctrlrequest, u8 type,
 * 3 bytes padding) and typed USB control requests. Pure.
 */

export const EVENT_SIZE = 12;
export const EVENT_TYPES = ["bind", "unbind", "enable", "disable", "setup", "suspend", "resume"] as const;
export type FfsEventType = (typeof EVENT_TYPES)[number];

export type Direction = "in" | "out";
export type RequestType = "standard" | "class" | "vendor" | "reserved";
export type Recipient = "device" | "interface" | "endpoint" | "other";

export interface ControlRequest {
  bmRequestType: number;
  bRequest: number;
  wValue: number;
  wIndex: number;
  wLength: number;
  /** IN: device to host (the function answers with data); OUT: host to device. */
  direction: Direction;
  type: RequestType;
  recipient: Recipient;
  /** The standard request's name (GET_DESCRIPTOR, SET_INTERFACE...), when standard. */
  name?: string;
}

export type FfsEvent = { type: Exclude<FfsEventType, "setup"> } | { type: "setup"; request: ControlRequest };

const STANDARD: Record<number, string> = {
  0: "GET_STATUS",
  1: "CLEAR_FEATURE",
  3: "SET_FEATURE",
  5: "SET_ADDRESS",
  6: "GET_DESCRIPTOR",
  7: "SET_DESCRIPTOR",
  8: "GET_CONFIGURATION",
  9: "SET_CONFIGURATION",
  10: "GET_INTERFACE",
  11: "SET_INTERFACE",
  12: "SYNCH_FRAME",
};

export function parseControlRequest(b: Uint8Array, offset = 0): ControlRequest {
  const dv = new DataView(b.buffer, b.byteOffset + offset, 8);
  const bmRequestType = dv.getUint8(0);
  const type = (["standard", "class", "vendor", "reserved"] as const)[(bmRequestType >> 5) & 3]!;
  const recipient = (["device", "interface", "endpoint", "other"] as const)[Math.min(bmRequestType & 0x1f, 3)]!;
  const bRequest = dv.getUint8(1);
  return {
    bmRequestType,
    bRequest,
    wValue: dv.getUint16(2, true),
    wIndex: dv.getUint16(4, true),
    wLength: dv.getUint16(6, true),
    direction: bmRequestType & 0x80 ? "in" : "out",
    type,
    recipient,
    ...(type === "standard" && STANDARD[bRequest] ? { name: STANDARD[bRequest] } : {}),
  };
}

/** Encodes a control request (for tests and for host-side clients). */
export function encodeControlRequest(r: {
  direction: Direction;
  type: RequestType;
  recipient: Recipient;
  bRequest: number;
  wValue?: number;
  wIndex?: number;
  wLength?: number;
}): Uint8Array {
  const out = new Uint8Array(8);
  const dv = new DataView(out.buffer);
  const t = { standard: 0, class: 1, vendor: 2, reserved: 3 }[r.type];
  const rc = { device: 0, interface: 1, endpoint: 2, other: 3 }[r.recipient];
  dv.setUint8(0, (r.direction === "in" ? 0x80 : 0) | (t << 5) | rc);
  dv.setUint8(1, r.bRequest);
  dv.setUint16(2, r.wValue ?? 0, true);
  dv.setUint16(4, r.wIndex ?? 0, true);
  dv.setUint16(6, r.wLength ?? 0, true);
  return out;
}

/** Splits what a read of ep0 returned into events; unknown types are reported, not dropped. */
export function parseEvents(b: Uint8Array, length = b.length): (FfsEvent | { type: "unknown"; code: number })[] {
  if (length % EVENT_SIZE !== 0) throw new Error(`ep0 read returned ${length} bytes, not a multiple of ${EVENT_SIZE}`);
  const out: (FfsEvent | { type: "unknown"; code: number })[] = [];
  for (let o = 0; o < length; o += EVENT_SIZE) {
    const code = b[o + 8]!;
    const type = EVENT_TYPES[code];
    if (!type) out.push({ type: "unknown", code });
    else if (type === "setup") out.push({ type, request: parseControlRequest(b, o) });
    else out.push({ type });
  }
  return out;
}

/** A function's state as its events move it (the library keeps this; pure). */
export type FunctionState = "unbound" | "bound" | "enabled" | "suspended";

export function nextState(s: FunctionState, e: FfsEventType): FunctionState {
  switch (e) {
    case "bind":
      return s === "unbound" ? "bound" : s;
    case "unbind":
      return "unbound";
    case "enable":
      return "enabled";
    case "disable":
      return s === "unbound" ? s : "bound";
    case "suspend":
      return s === "enabled" ? "suspended" : s;
    case "resume":
      return s === "suspended" ? "enabled" : s;
    case "setup":
      return s;
  }
}
