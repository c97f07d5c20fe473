import { describe, expect, test } from "bun:test";
import { accessMode, devnum, formatStoredFds, inodeType } from "./fdstore-format.ts";

describe("fdstore columns", () => {
  test("inode types by systemd's names; anonymous inodes get a dash", () => {
    expect([0o140777, 0o120777, 0o100644, 0o060660, 0o040755, 0o020666, 0o010600, 0o600].map(inodeType)).toEqual([
      "sock",
      "lnk",
      "reg",
      "blk",
      "dir",
      "chr",
      "fifo",
      "-",
    ]);
  });
  test("device numbers decoded as glibc's major()/minor(), both halves; 0:0 is a dash", () => {
    expect(devnum(8n)).toBe("0:8");
    expect(devnum((8n << 8n) | 1n)).toBe("8:1");
    expect(devnum((259n << 8n) | 3n)).toBe("259:3");
    // minor 0x12345 and major 0x1234 use the high bits of dev_t
    const major = 0x1234n;
    const minor = 0x12345n;
    const dev = ((major & 0xfffn) << 8n) | ((major & ~0xfffn) << 32n) | (minor & 0xffn) | ((minor & ~0xffn) << 12n);
    expect(devnum(dev)).toBe(`${major}:${minor}`);
    expect(devnum(8n << 8n)).toBe("8:0");
    expect(devnum(0n)).toBe("-");
  });
  test("access modes", () => {
    expect([0, 1, 2, 3, 0o4002, 0o2000].map(accessMode)).toEqual(["ro", "wo", "rw", "-", "rw", "ro"]);
  });
  test("the table as systemd-analyze fdstore prints it; nothing for an empty store", () => {
    expect(
      formatStoredFds([
        { name: "quiet", mode: 0o140777, dev: "8", inode: "91", rdev: "0", path: "socket:[91]", flags: 2 },
        { name: "log", mode: 0o100644, dev: String((8n << 8n) | 1n), inode: "123456", rdev: "0", path: null, flags: 0 },
      ]),
    ).toBe(
      [
        "FDNAME  TYPE  DEVNO   INODE  RDEVNO  PATH         FLAGS",
        "quiet   sock  0:8        91  -       socket:[91]  rw",
        "log     reg   8:1    123456  -       -            ro",
        "",
      ].join("\n"),
    );
    expect(formatStoredFds([])).toBeNull();
  });
});
