/**
 * Opening a ListenUSBFunction= port, as systemd does it (socket_open_fds(), §2.2 of the
 * notes): open the FunctionFS mount directory, open ep0, write USBFunctionDescriptors= and
 * USBFunctionStrings= (each blob in one write()), then open every endpoint file, sorted with
 * strcmp() (ep1, ep10, ep2, ...), ep0 and dot files excepted.
 *
 * Beyond systemd: USBFunctionDescriptors= may name a readable spec (.toml or .json) that is
 * compiled here (USBFunctionStrings= is then optional); every blob is validated before
 * anything is written to ep0, so a malformed description leaves the function untouched.
 */
import { readdirSync, readFileSync } from "node:fs";
import { errorText } from "../core/errors.ts";
import * as n from "../native.ts";
import { O_DIRECTORY, O_NOCTTY, O_NOFOLLOW, O_NONBLOCK, O_RDONLY, O_RDWR, S_IFMT, S_IFREG } from "../sys/constants.ts";
import { parseFunctionSpec } from "./descriptor-spec.ts";
import { compileFunction, decodeFunction, decodeStrings } from "./ffs-blobs.ts";

export interface UsbBlobs {
  descriptors: Uint8Array;
  strings: Uint8Array;
  /** Where they came from, for messages. */
  source: string;
}

export class UsbFunctionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsbFunctionError";
  }
}

const isSpec = (p: string) => /\.(toml|json)$/.test(p);

/** Loads (and validates) the blobs a service names; throws with the file in the message. */
export function loadUsbBlobs(descriptors: string | undefined, strings: string | undefined, service: string): UsbBlobs {
  if (!descriptors) throw new UsbFunctionError(`${service} has no USBFunctionDescriptors=; FunctionFS needs descriptors and strings`);
  if (isSpec(descriptors)) {
    const spec = parseFunctionSpec(readFileSync(descriptors, "utf8"), descriptors);
    const c = compileFunction(spec);
    if (strings) {
      const s = new Uint8Array(readFileSync(strings));
      checkStrings(s, strings);
      return { descriptors: c.descriptors, strings: s, source: `${descriptors} + ${strings}` };
    }
    return { descriptors: c.descriptors, strings: c.strings, source: descriptors };
  }
  if (!strings) throw new UsbFunctionError(`${service} has USBFunctionDescriptors= but no USBFunctionStrings=`);
  const d = new Uint8Array(readFileSync(descriptors));
  const s = new Uint8Array(readFileSync(strings));
  try {
    decodeFunction(d);
  } catch (e) {
    throw new UsbFunctionError(`${descriptors}: not valid FunctionFS descriptors: ${errorText(e)}`);
  }
  checkStrings(s, strings);
  return { descriptors: d, strings: s, source: `${descriptors} + ${strings}` };
}

function checkStrings(s: Uint8Array, file: string): void {
  try {
    decodeStrings(s);
  } catch (e) {
    throw new UsbFunctionError(`${file}: not valid FunctionFS strings: ${errorText(e)}`);
  }
}

function openEpFile(dirfd: number, name: string): number {
  const fd = n.openat(dirfd, name, O_RDWR | O_NOCTTY | O_NONBLOCK | O_NOFOLLOW);
  if ((n.fstat(fd).mode & S_IFMT) !== S_IFREG) {
    n.close(fd);
    throw new UsbFunctionError(`${name} is not a FunctionFS file`);
  }
  return fd;
}

/** strcmp() order of byte strings, as systemd sorts the endpoint files. */
export function strcmpSort(names: string[]): string[] {
  return [...names].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
}

export function openUsbFunction(path: string, blobs: UsbBlobs): { ep0: number; endpoints: number[]; endpointNames: string[] } {
  const dirfd = n.open(path, O_RDONLY | O_DIRECTORY);
  try {
    const ep0 = openEpFile(dirfd, "ep0");
    try {
      // Each blob must reach the kernel in one write().
      for (const [what, blob] of [
        ["descriptors", blobs.descriptors],
        ["strings", blobs.strings],
      ] as const) {
        const w = n.write(ep0, blob);
        if (w !== blob.length) throw new UsbFunctionError(`writing ${what} to ${path}/ep0: ${w === null ? "EAGAIN" : `${w} of ${blob.length} bytes`}`);
      }
    } catch (e) {
      n.close(ep0);
      throw new UsbFunctionError(`Failed to write to USB FunctionFS ep0 in ${path} (${blobs.source}): ${errorText(e)}`);
    }
    // The kernel created the endpoint files when it accepted the strings.
    const names = strcmpSort(readdirSync(path).filter((f) => f !== "ep0" && !f.startsWith(".")));
    const endpoints: number[] = [];
    try {
      for (const name of names) endpoints.push(openEpFile(dirfd, name));
    } catch (e) {
      for (const fd of endpoints) n.close(fd);
      n.close(ep0);
      throw new UsbFunctionError(`Failed to dispatch USB FunctionFS eps in ${path}: ${errorText(e)}`);
    }
    return { ep0, endpoints, endpointNames: names };
  } finally {
    n.close(dirfd);
  }
}
