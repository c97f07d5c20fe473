/**
 * The HID boot keyboard protocol (HID 1.11, appendix B and E.6): the report descriptor, and
 * text turned into 8-byte input reports [modifiers, 0, key1..key6]. Pure; the example service
 * firmware/examples/usb-hid-keyboard.ts does the I/O.
 */

/** The boot keyboard report descriptor of HID 1.11 appendix E.6 (63 bytes). */
export const BOOT_KEYBOARD_REPORT_DESCRIPTOR = new Uint8Array([
  0x05, 0x01, 0x09, 0x06, 0xa1, 0x01, 0x05, 0x07, 0x19, 0xe0, 0x29, 0xe7, 0x15, 0x00, 0x25, 0x01, 0x75, 0x01, 0x95, 0x08, 0x81, 0x02, 0x95, 0x01, 0x75, 0x08,
  0x81, 0x01, 0x95, 0x05, 0x75, 0x01, 0x05, 0x08, 0x19, 0x01, 0x29, 0x05, 0x91, 0x02, 0x95, 0x01, 0x75, 0x03, 0x91, 0x01, 0x95, 0x06, 0x75, 0x08, 0x15, 0x00,
  0x25, 0x65, 0x05, 0x07, 0x19, 0x00, 0x29, 0x65, 0x81, 0x00, 0xc0,
]);

export const MOD_LEFT_SHIFT = 0x02;

/** HID class requests (HID 1.11 §7.2). */
export const HID_REQUEST = { GET_REPORT: 0x01, GET_IDLE: 0x02, GET_PROTOCOL: 0x03, SET_REPORT: 0x09, SET_IDLE: 0x0a, SET_PROTOCOL: 0x0b } as const;

/** The 9-byte HID descriptor for a report descriptor of `reportLength` bytes. */
export function hidDescriptor(reportLength: number): Uint8Array {
  return new Uint8Array([9, 0x21, 0x11, 0x01, 0, 1, 0x22, reportLength & 0xff, reportLength >> 8]);
}

const SHIFTED_DIGITS = "!@#$%^&*()";
const PUNCT: Record<string, [number, boolean]> = {
  "\n": [0x28, false],
  "\t": [0x2b, false],
  " ": [0x2c, false],
  "-": [0x2d, false],
  _: [0x2d, true],
  "=": [0x2e, false],
  "+": [0x2e, true],
  "[": [0x2f, false],
  "{": [0x2f, true],
  "]": [0x30, false],
  "}": [0x30, true],
  "\\": [0x31, false],
  "|": [0x31, true],
  ";": [0x33, false],
  ":": [0x33, true],
  "'": [0x34, false],
  '"': [0x34, true],
  "`": [0x35, false],
  "~": [0x35, true],
  ",": [0x36, false],
  "<": [0x36, true],
  ".": [0x37, false],
  ">": [0x37, true],
  "/": [0x38, false],
  "?": [0x38, true],
};

/** The usage id and modifiers for one character of a US layout, or null when it has no key. */
export function keyFor(ch: string): { usage: number; modifiers: number } | null {
  const c = ch.charCodeAt(0);
  if (ch.length !== 1) return null;
  if (c >= 0x61 && c <= 0x7a) return { usage: 0x04 + c - 0x61, modifiers: 0 };
  if (c >= 0x41 && c <= 0x5a) return { usage: 0x04 + c - 0x41, modifiers: MOD_LEFT_SHIFT };
  if (c >= 0x31 && c <= 0x39) return { usage: 0x1e + c - 0x31, modifiers: 0 };
  if (ch === "0") return { usage: 0x27, modifiers: 0 };
  const sd = SHIFTED_DIGITS.indexOf(ch);
  if (sd >= 0) return { usage: 0x1e + sd, modifiers: MOD_LEFT_SHIFT };
  const p = PUNCT[ch];
  return p ? { usage: p[0], modifiers: p[1] ? MOD_LEFT_SHIFT : 0 } : null;
}

/**
 * Input reports that type `text`: a press and a release per character (so repeated letters
 * register). Characters without a key are skipped and returned in `skipped`.
 */
export function textToReports(text: string): { reports: Uint8Array[]; skipped: string[] } {
  const reports: Uint8Array[] = [];
  const skipped: string[] = [];
  for (const ch of text) {
    const k = keyFor(ch);
    if (!k) {
      skipped.push(ch);
      continue;
    }
    reports.push(new Uint8Array([k.modifiers, 0, k.usage, 0, 0, 0, 0, 0]), new Uint8Array(8));
  }
  return { reports, skipped };
}
