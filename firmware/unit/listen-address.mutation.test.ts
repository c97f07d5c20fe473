import { describe, expect, test } from "bun:test";
import { AddressError, addressesEqual, formatListenAddress, formatNetlinkAddress, parseListenAddress, parseNetlinkAddress } from "./listen-address.ts";

function addressError(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(AddressError);
    expect((e as Error).name).toBe("AddressError");
    return (e as Error).message;
  }
  throw new Error("no AddressError thrown");
}
const listenError = (s: string) => addressError(() => parseListenAddress(s));
const NOT_ADDRESS = (s: string) => `"${s}" is not a socket address (examples: /run/foo.sock, @abstract, 8080, 127.0.0.1:80, [::1]:80, vsock::1234)`;
const round = (s: string) => formatListenAddress(parseListenAddress(s));

describe("unix sockets", () => {
  test("paths up to 107 bytes, abstract names up to 106", () => {
    expect(round(`/${"p".repeat(106)}`)).toBe(`/${"p".repeat(106)}`);
    expect(listenError(`/${"p".repeat(107)}`)).toBe(`"/${"p".repeat(107)}": socket path too long (max 107 bytes)`);
    expect(round(`@${"a".repeat(106)}`)).toBe(`@${"a".repeat(106)}`);
    expect(listenError(`@${"a".repeat(107)}`)).toBe(`"@${"a".repeat(107)}": abstract name too long (max 106 bytes)`);
    expect(listenError("/")).toBe('"/": not a socket path');
    expect(listenError("@")).toBe('"@": empty abstract socket name');
  });
});

describe("IPv4 and IPv6", () => {
  test("ports 1..65535", () => {
    expect(round("127.0.0.1:65535")).toBe("127.0.0.1:65535");
    expect(round("[::1]:1")).toBe("[::1]:1");
    expect(listenError("[::1]:0")).toBe("[::1]:0: port 0 is not allowed");
    expect(listenError("[::1]:65536")).toBe("[::1]:65536: port 65536 is out of range (1..65535)");
    for (const p of ["x", "8x", "x8", ""]) expect(listenError(`127.0.0.1:${p}`)).toBe(`127.0.0.1:${p}: "${p}" is not a port number`);
  });

  test("IPv6 syntax errors", () => {
    expect(listenError("[::1")).toBe('"[::1": missing "]"');
    expect(listenError("[zz]:80")).toBe('"[zz]:80": "zz" is not an IPv6 address');
    expect(listenError("[::1]%eth0:80")).toBe('"[::1]%eth0:80": the interface goes after the port: [addr]:PORT%dev');
    for (const s of ["[::1]", "[::1]:80x", "[::1]x%eth0", "[::1]80"]) expect(listenError(s)).toBe(`"${s}": expected [IPv6]:PORT`);
  });

  test("interface names as ifname_valid(), or an index of any length", () => {
    expect(round("[::1]:80%1234567890123456")).toBe("[::1]:80%1234567890123456");
    expect(round("[::1]:80%abcdefghijklmno")).toBe("[::1]:80%abcdefghijklmno");
    for (const n of ["abcdefghijklmnop", ".", "..", "a:0", "0a:b", "a/b", "a%b", "éth0", "eth0é", "a b"]) {
      expect(listenError(`[::1]:80%${n}`)).toBe(`"[::1]:80%${n}": "${n}" is not a network interface name`);
    }
  });

  test("what is none of the forms", () => {
    for (const s of ["1.2.3.45", "xvsock:2:5", "localhost:80", ":80", "80x"]) expect(listenError(s)).toBe(NOT_ADDRESS(s));
  });

  test("equality is by the printed form", () => {
    expect(addressesEqual(parseListenAddress("8080"), parseListenAddress("[::]:8080"))).toBe(true);
    expect(addressesEqual(parseListenAddress("8080"), parseListenAddress("[::]:8081"))).toBe(false);
  });
});

describe("vsock", () => {
  test("CIDs: names, numbers up to 2^32-1", () => {
    expect(round("vsock:12:5")).toBe("vsock:12:5");
    expect(round("vsock:4294967294:5")).toBe("vsock:4294967294:5");
    expect(round("vsock:4294967295:5")).toBe("vsock::5");
    expect(listenError("vsock:4294967296:5")).toBe("vsock CID 4294967296 is out of range");
    for (const c of ["x1", "1x", "guest"]) expect(listenError(`vsock:${c}:5`)).toBe(`"${c}" is not a vsock CID (a number, or hypervisor, local, host, any)`);
  });

  test("ports below VMADDR_PORT_ANY", () => {
    expect(round("vsock-stream:2:4294967294")).toBe("vsock:2:4294967294");
    expect(listenError("vsock:2:4294967295")).toBe('"vsock:2:4294967295": vsock port 4294967295 is out of range');
    expect(listenError("vsock:5")).toBe('"vsock:5": expected vsock:CID:PORT');
    for (const p of ["x5", "5x", ""]) expect(listenError(`vsock:2:${p}`)).toBe(`"vsock:2:${p}": "${p}" is not a vsock port`);
  });
});

describe("netlink", () => {
  const nlError = (s: string) => addressError(() => parseNetlinkAddress(s));

  test("families by name or number up to 2^31-1", () => {
    expect(parseNetlinkAddress(" route ")).toEqual({ protocol: 0, groups: 0 });
    expect(parseNetlinkAddress("12345")).toEqual({ protocol: 12345, groups: 0 });
    expect(parseNetlinkAddress("2147483647")).toEqual({ protocol: 2147483647, groups: 0 });
    for (const f of ["2147483648", "x5", "5x", "bogus", "1e3", "0x10"])
      expect(nlError(f)).toBe(`"${f}" is not a netlink family (for example route, kobject-uevent, audit, or a number)`);
    for (const s of ["", "   "]) expect(nlError(s)).toBe(`"${s}": expected FAMILY [GROUPS]`);
  });

  test("group masks up to 2^32-1, a number exactly", () => {
    expect(parseNetlinkAddress("kobject-uevent 4294967295")).toEqual({ protocol: 15, groups: 4294967295 });
    expect(nlError("route 4294967296")).toBe("netlink group mask 4294967296 is out of range");
    for (const g of ["x", "1 2", "1 "]) expect(nlError(`route ${g}`)).toBe(`"${g}" is not a netlink group mask (an unsigned integer)`);
  });

  test("an unnamed family prints as its number", () => {
    expect(formatNetlinkAddress({ protocol: 99, groups: 1 })).toBe("99 1");
    expect(formatNetlinkAddress({ protocol: 15, groups: 2 })).toBe("kobject-uevent 2");
  });
});
