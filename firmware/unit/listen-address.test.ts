import { describe, expect, test } from "bun:test";
import { AddressError, formatListenAddress, formatNetlinkAddress, parseListenAddress, parseNetlinkAddress } from "./listen-address.ts";

// The cases of systemd's src/test/test-socket-netlink.c, and a few of our own.
describe("Listen*= addresses", () => {
  const roundTrip: [string, string][] = [
    ["/run/foo.sock", "/run/foo.sock"],
    ["@abstract", "@abstract"],
    ["8080", "[::]:8080"],
    ["127.0.0.1:80", "127.0.0.1:80"],
    ["[::1]:1234", "[::1]:1234"],
    ["[::1]:1234%lo", "[::1]:1234%lo"],
    ["[fe80::1]:80%eth0", "[fe80::1]:80%eth0"],
    ["vsock:2:1234", "vsock:2:1234"],
    ["vsock::1234", "vsock::1234"],
    ["vsock:any:1234", "vsock::1234"],
    ["vsock:host:22", "vsock:2:22"],
    ["vsock:local:22", "vsock:1:22"],
    ["vsock:hypervisor:22", "vsock:0:22"],
    ["vsock:-1:7", "vsock::7"],
    ["vsock-stream:3:10", "vsock:3:10"],
    ["vsock:3:0", "vsock:3:0"],
  ];
  for (const [input, printed] of roundTrip) {
    test(`${input} -> ${printed}`, () => expect(formatListenAddress(parseListenAddress(input))).toBe(printed));
  }
  const bad = [
    "vsock:2",
    "vsock:2x:1234",
    "vsock:2:1234x",
    "vsock:2:4294967295",
    "0",
    "65536",
    "[::1]%lo:1234",
    "1.2.3.4:0",
    "nope",
    "/" + "x".repeat(120),
    "@",
    "[::1]",
    // test-socket-netlink.c: "/" alone, an abstract name of 107 bytes ("@" + 107 > SUN_PATH_LEN - 1), two interfaces.
    "/",
    `@${"a".repeat(107)}`,
    "[::1]:1234%lo%lo",
    "[::1]:0%lo",
    "[::1]%lo",
    "[::1]%lo%lo:1234",
    "[::1]% lo:1234",
    "[::1]8888",
    "::1",
    "[a:b:1]:8888",
    `/${"p".repeat(107)}`,
    "[::1]:1234%averyveryverylongname",
  ];
  for (const input of bad) test(`rejects ${JSON.stringify(input)}`, () => expect(() => parseListenAddress(input)).toThrow(AddressError));
  test("the longest names systemd takes: a 107-byte path, a 106-byte abstract name", () => {
    expect(parseListenAddress(`/${"p".repeat(106)}`)).toMatchObject({ family: "unix", abstract: false });
    expect(parseListenAddress(`@${"a".repeat(106)}`)).toMatchObject({ family: "unix", abstract: true, path: "a".repeat(106) });
  });
  test("port-only means IPv6 any with v4 fallback", () => expect(parseListenAddress("22")).toMatchObject({ family: "inet6", port: 22, portOnly: true }));
});

describe("ListenNetlink= values", () => {
  test("names, numbers and the group bitmask", () => {
    expect(parseNetlinkAddress("kobject-uevent 1")).toEqual({ protocol: 15, groups: 1 });
    expect(parseNetlinkAddress("route 1361")).toEqual({ protocol: 0, groups: 1361 });
    expect(parseNetlinkAddress(" kobject-uevent")).toEqual({ protocol: 15, groups: 0 });
    expect(parseNetlinkAddress("route\t10")).toEqual({ protocol: 0, groups: 10 });
    expect(parseNetlinkAddress("21 3")).toEqual({ protocol: 21, groups: 3 });
    // test-socket-netlink.c: blanks around the family are fine, after the group they are not.
    expect(parseNetlinkAddress(" kobject-uevent ")).toEqual({ protocol: 15, groups: 0 });
    expect(parseNetlinkAddress(" \t kobject-uevent \t 10")).toEqual({ protocol: 15, groups: 10 });
    expect(formatNetlinkAddress({ protocol: 15, groups: 1 })).toBe("kobject-uevent 1");
  });
  for (const input of ["kobject-uevent\t10 ", "kobject-uevent -1", "", "junk", "route -1", "\xff", "nosuch 1", "route 1 2"]) {
    test(`rejects ${JSON.stringify(input)}`, () => expect(() => parseNetlinkAddress(input)).toThrow(AddressError));
  }
});
