/**
 * Runs inside the QEMU board: the kernel features the other guest tests rely on are real here.
 */
import { describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync } from "node:fs";
import * as n from "../../firmware/native.ts";
import { AF_VSOCK, SOCK_STREAM, VMADDR_CID_LOCAL } from "../../firmware/sys/constants.ts";

describe("the QEMU board", () => {
  test("configfs is mounted and dummy_hcd provides a UDC", () => {
    expect(readFileSync("/proc/mounts", "utf8")).toContain("configfs /sys/kernel/config configfs");
    expect(existsSync("/sys/kernel/config/usb_gadget")).toBe(true);
    expect(readdirSync("/sys/class/udc")).toContain("dummy_udc.0");
  });

  test("a FunctionFS function can be created and mounted (the file system registers with the first instance)", () => {
    const g = "/sys/kernel/config/usb_gadget/board-test";
    const mnt = "/run/board-test-ffs";
    mkdirSync(`${g}/functions/ffs.boardtest`, { recursive: true });
    try {
      expect(readFileSync("/proc/filesystems", "utf8")).toContain("functionfs");
      mkdirSync(mnt, { recursive: true });
      expect(Bun.spawnSync(["mount", "-t", "functionfs", "boardtest", mnt]).exitCode).toBe(0);
      expect(readdirSync(mnt)).toEqual(["ep0"]);
      expect(Bun.spawnSync(["umount", mnt]).exitCode).toBe(0);
    } finally {
      rmdirSync(`${g}/functions/ffs.boardtest`);
      rmdirSync(g);
    }
  });

  test("vsock loopback carries a connection inside the guest", () => {
    const srv = n.socket(AF_VSOCK, SOCK_STREAM, 0, true);
    n.bind(srv, { family: "vsock", cid: 0xffffffff, port: 20000 });
    n.listen(srv, 4);
    const cli = n.socket(AF_VSOCK, SOCK_STREAM, 0, true);
    n.connect(cli, { family: "vsock", cid: VMADDR_CID_LOCAL, port: 20000 });
    const acc = n.accept(srv, 0)!;
    expect(acc.peer).toMatchObject({ family: "vsock", cid: VMADDR_CID_LOCAL });
    n.send(cli, new TextEncoder().encode("ping"));
    const buf = new Uint8Array(4);
    expect(n.recv(acc.fd, buf)).toBe(4);
    expect(new TextDecoder().decode(buf)).toBe("ping");
    for (const fd of [acc.fd, cli, srv]) n.close(fd);
  });

  test("the native module and bunit are installed", () => {
    expect(existsSync("/usr/lib/bunit/libbunit.so")).toBe(true);
    expect(Bun.spawnSync(["bunit", "verify", "--quiet", "/etc/bunit/units/echo.socket"]).exitCode).toBe(0);
  });
});
