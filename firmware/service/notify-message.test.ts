import { describe, expect, test } from "bun:test";
import { interpretNotify, notifyRefusal, parseNotifyText } from "./notify-message.ts";
import { cgroup2Mount, ownCgroup, parseProcs } from "../exec/cgroup.ts";
import { decodeWaitStatus } from "../exec/process-watch.ts";
import { parseStat } from "../daemon/reaper.ts";

const parse = (t: string) => interpretNotify(parseNotifyText(t));

describe("sd_notify messages", () => {
  test("READY, STATUS, MAINPID, WATCHDOG and friends", () => {
    const u = parse("READY=1\nSTATUS=Serving 3 clients\nMAINPID=4242\nWATCHDOG=1\nWATCHDOG_USEC=500000\nERRNO=2\nX_CUSTOM=1");
    expect(u).toMatchObject({ ready: true, status: "Serving 3 clients", mainPid: 4242, watchdog: "ping", watchdogUsec: 500000, errno: 2 });
    expect(u.unknown).toEqual(["X_CUSTOM=1"]);
  });
  test("bad values are not taken", () => {
    const u = parse("READY=0\nMAINPID=1\nWATCHDOG=yes\nWATCHDOG_USEC=-5\nnot an assignment\n=x");
    expect(u.ready).toBeUndefined();
    expect(u.mainPid).toBeUndefined();
    expect(u.watchdog).toBeUndefined();
    expect(u.watchdogUsec).toBeUndefined();
    expect(u.unknown).toEqual(["MAINPID=1", "WATCHDOG=yes", "WATCHDOG_USEC=-5"]);
  });
  test("FDSTORE with and without FDNAME; FDSTOREREMOVE needs a valid name; BARRIER", () => {
    expect(parse("FDSTORE=1").fdstore).toEqual({ name: "stored", poll: true });
    expect(parse("FDSTORE=1\nFDNAME=db").fdstore).toEqual({ name: "db", poll: true });
    expect(parse("FDSTORE=1\nFDPOLL=0").fdstore).toEqual({ name: "stored", poll: false });
    expect(parse("FDSTORE=1\nFDPOLL=no\nFDNAME=db").fdstore).toEqual({ name: "db", poll: false });
    expect(parse("FDSTORE=1\nFDPOLL=maybe").fdstore).toEqual({ name: "stored", poll: true }); // unparsable: the default
    expect(parse("FDPOLL=0").fdstore).toBeUndefined();
    expect(parse("FDSTORE=1\nFDNAME=a:b").fdstore).toEqual({ name: "stored", poll: true }); // ":" is not allowed
    expect(parse("FDSTOREREMOVE=1\nFDNAME=db").fdstoreRemove).toEqual({ name: "db" });
    expect(parse("FDSTOREREMOVE=1").fdstoreRemove).toBeUndefined();
    expect(parse("BARRIER=1").barrier).toBe(true);
    expect(parse("WATCHDOG=trigger").watchdog).toBe("trigger");
  });
  test("NotifyAccess= decides by the sender pid the kernel reported", () => {
    const inUnit = (p: number) => p === 77;
    expect(notifyRefusal("none", 10, 10, null, inUnit)).toContain("NotifyAccess=none");
    expect(notifyRefusal("main", 10, 10, null, inUnit)).toBeNull();
    expect(notifyRefusal("main", 11, 10, null, inUnit)).toContain("main PID 10");
    expect(notifyRefusal("main", 11, null, null, inUnit)).toContain("not known yet");
    expect(notifyRefusal("exec", 12, 10, 12, inUnit)).toBeNull();
    expect(notifyRefusal("exec", 77, 10, 12, inUnit)).not.toBeNull();
    expect(notifyRefusal("all", 77, 10, 12, inUnit)).toBeNull();
    expect(notifyRefusal("all", 78, 10, 12, inUnit)).not.toBeNull();
  });
});

describe("process tracking helpers", () => {
  test("cgroup2 mount and own path", () => {
    const mi = "35 24 0:30 / /sys/fs/cgroup/unified rw,nosuid - cgroup2 cgroup2 rw\n36 24 0:31 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n";
    expect(cgroup2Mount(mi)).toBe("/sys/fs/cgroup/unified");
    expect(cgroup2Mount("36 24 0:31 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n")).toBeNull();
    expect(ownCgroup("1:cpu:/\n0::/system.slice/x.service\n")).toBe("/system.slice/x.service");
    expect(ownCgroup("1:cpu:/\n")).toBeNull();
    expect(parseProcs("12\n13\n\n")).toEqual([12, 13]);
  });
  test("wait statuses and /proc stat lines", () => {
    expect(decodeWaitStatus(3 << 8)).toEqual({ code: 3, signal: null });
    expect(decodeWaitStatus(9)).toEqual({ code: null, signal: 9 });
    expect(parseStat("123 (a (weird) name) Z 456 123 123 0")).toEqual({ state: "Z", ppid: 456, sid: 123 });
    expect(parseStat("garbage")).toBeNull();
  });
});
