import { describe, expect, test } from "bun:test";
import { interpretNotify, notifyRefusal, parseNotifyText } from "./notify-message.ts";

const interpret = (text: string) => interpretNotify(parseNotifyText(text));

describe("sd_notify assignments", () => {
  test("the boolean states only on =1", () => {
    expect(interpret("READY=1\nRELOADING=1\nSTOPPING=1\nBARRIER=1")).toStrictEqual({
      ready: true,
      reloading: true,
      stopping: true,
      barrier: true,
      unknown: [],
    });
    expect(interpret("READY=0\nRELOADING=0\nSTOPPING=yes\nBARRIER=2")).toStrictEqual({ unknown: [] });
  });

  test("STATUS is kept up to 4096 characters", () => {
    expect(interpret(`STATUS=${"s".repeat(5000)}`).status).toBe("s".repeat(4096));
    expect(interpret("STATUS=a=b").status).toBe("a=b");
  });

  test("MAINPID must be a decimal pid above 1", () => {
    expect(interpret("MAINPID=42").mainPid).toBe(42);
    for (const v of ["1", "0", "x42", "42x", "-5", "", "1e3", "0x10", " 42"]) expect(interpret(`MAINPID=${v}`)).toStrictEqual({ unknown: [`MAINPID=${v}`] });
  });

  test("WATCHDOG= pings or triggers", () => {
    expect(interpret("WATCHDOG=1").watchdog).toBe("ping");
    expect(interpret("WATCHDOG=trigger").watchdog).toBe("trigger");
    expect(interpret("WATCHDOG=0")).toStrictEqual({ unknown: ["WATCHDOG=0"] });
  });

  test("WATCHDOG_USEC= and EXTEND_TIMEOUT_USEC= are decimal and kept apart", () => {
    expect(interpret("WATCHDOG_USEC=15")).toStrictEqual({ watchdogUsec: 15, unknown: [] });
    expect(interpret("EXTEND_TIMEOUT_USEC=20")).toStrictEqual({ extendTimeoutUsec: 20, unknown: [] });
    for (const k of ["WATCHDOG_USEC", "EXTEND_TIMEOUT_USEC"]) {
      for (const v of ["x5", "5x", "", "1.5"]) expect(interpret(`${k}=${v}`)).toStrictEqual({ unknown: [`${k}=${v}`] });
    }
  });

  test("ERRNO= only when decimal", () => {
    expect(interpret("ERRNO=12").errno).toBe(12);
    for (const v of ["x1", "1x", ""]) expect(interpret(`ERRNO=${v}`)).toStrictEqual({ unknown: [] });
  });

  test("the fd store: default name, valid FDNAME=, removal needs a name", () => {
    expect(interpret("FDSTORE=1").fdstore).toEqual({ name: "stored", poll: true });
    expect(interpret("FDSTORE=1\nFDPOLL=off").fdstore).toEqual({ name: "stored", poll: false });
    expect(interpret("FDSTORE=1\nFDPOLL=1").fdstore).toEqual({ name: "stored", poll: true });
    expect(interpret("FDSTORE=1\nFDNAME=web").fdstore).toEqual({ name: "web", poll: true });
    expect(interpret("FDSTORE=1\nFDNAME=a:b").fdstore).toEqual({ name: "stored", poll: true });
    expect(interpret("FDSTORE=0")).toStrictEqual({ unknown: [] });
    expect(interpret("FDSTOREREMOVE=1\nFDNAME=web")).toStrictEqual({ fdstoreRemove: { name: "web" }, unknown: [] });
    expect(interpret("FDSTOREREMOVE=1")).toStrictEqual({ unknown: [] });
    expect(interpret("FDSTOREREMOVE=0\nFDNAME=web")).toStrictEqual({ unknown: [] });
  });

  test("known keys without an effect here, and unknown ones", () => {
    expect(interpret("FDNAME=x\nFDPOLL=0\nMONOTONIC_USEC=5\nNOTIFYACCESS=all")).toStrictEqual({ unknown: [] });
    expect(interpret("X_CUSTOM=1\nnoequals\n=x")).toStrictEqual({ unknown: ["X_CUSTOM=1"] });
  });
});

describe("NotifyAccess=", () => {
  const none = () => false;

  test("exec: the main or the control process", () => {
    expect(notifyRefusal("exec", 10, 10, null, none)).toBeNull();
    expect(notifyRefusal("exec", 11, 10, 11, none)).toBeNull();
    expect(notifyRefusal("exec", 12, 10, 11, none)).toBe("reception only permitted for main PID 10 and control PID 11");
    expect(notifyRefusal("exec", 12, null, null, none)).toBe("reception only permitted for main PID and control PID");
  });

  test("all: also any process of the unit", () => {
    expect(notifyRefusal("all", 10, 10, null, none)).toBeNull();
    expect(notifyRefusal("all", 11, 10, 11, none)).toBeNull();
    expect(notifyRefusal("all", 12, 10, 11, (p) => p === 12)).toBeNull();
    expect(notifyRefusal("all", 12, 10, 11, none)).toBe("the sender is not part of this service");
  });

  test("main and none", () => {
    expect(notifyRefusal("main", 10, 10, 11, none)).toBeNull();
    expect(notifyRefusal("main", 11, 10, 11, none)).toBe("reception only permitted for main PID 10");
    expect(notifyRefusal("main", 11, null, 11, none)).toBe("reception only permitted for the main process, which is not known yet");
    expect(notifyRefusal("none", 10, 10, 10, () => true)).toBe("notifications are disabled (NotifyAccess=none)");
  });
});
