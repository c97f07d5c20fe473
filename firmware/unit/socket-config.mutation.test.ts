import { describe, expect, test } from "bun:test";
import { SOMAXCONN_DELUXE } from "../sys/constants.ts";
import { formatDiagnostic } from "./diagnostics.ts";
import { newExecContext, newKillContext } from "./exec-context.ts";
import { parseUnitText } from "./ini-syntax.ts";
import { applySection } from "./section-schema.ts";
import { effectiveLimits, isValidFdName, isValidServiceName, newSocketConfig, SOCKET_SCHEMA, type SocketConfig } from "./socket-config.ts";

/** Applies a [Socket] body (line 2 onwards of t.socket) to the defaults; "%n" expands to the unit name. */
function apply(body: string): { c: SocketConfig; diags: string[] } {
  const p = parseUnitText(`[Socket]\n${body}\n`, "t.socket");
  const c = newSocketConfig();
  const ds = applySection(SOCKET_SCHEMA, c, p.assignments, { unit: "t.socket", expand: (s) => s.replaceAll("%n", "t.socket") });
  return { c, diags: ds.map(formatDiagnostic) };
}
const ok = (body: string) => {
  const r = apply(body);
  expect(r.diags).toEqual([]);
  return r.c;
};
const err = (key: string, value: string, message: string) => expect(apply(`${key}=${value}`).diags).toEqual([`t.socket:2: error: ${key}=: ${message}`]);

describe("defaults", () => {
  test("every field as systemd's socket_init()", () => {
    expect(newSocketConfig()).toStrictEqual({
      listen: [],
      bindIPv6Only: "default",
      backlog: SOMAXCONN_DELUXE,
      socketMode: 0o666,
      directoryMode: 0o755,
      accept: false,
      writable: false,
      flushPending: false,
      maxConnections: 64,
      maxConnectionsPerSource: 0,
      keepAlive: false,
      noDelay: false,
      deferAcceptUsec: 0,
      freeBind: false,
      transparent: false,
      broadcast: false,
      passCredentials: false,
      passPIDFD: false,
      passSecurity: false,
      passPacketInfo: false,
      timestamping: "off",
      reusePort: false,
      mqMaxMessages: 0,
      mqMessageSize: 0,
      removeOnStop: false,
      symlinks: [],
      deferTrigger: "no",
      deferTriggerMaxUsec: Infinity,
      passFileDescriptorsToExec: false,
      xattrEntryPoint: [],
      xattrListen: [],
      xattrAccept: [],
      timeoutUsec: 90e6,
      usbActivation: "first",
      usbEndpointNames: false,
      execStartPre: [],
      execStartPost: [],
      execStopPre: [],
      execStopPost: [],
      exec: newExecContext(),
      kill: newKillContext(),
    });
  });

  test("an empty assignment restores the default", () => {
    const c = ok(
      [
        "Backlog=5",
        "Backlog=",
        "SocketMode=0600",
        "SocketMode=",
        "DirectoryMode=0700",
        "DirectoryMode=",
        "MaxConnections=3",
        "MaxConnections=",
        "MaxConnectionsPerSource=3",
        "MaxConnectionsPerSource=",
        "DeferAcceptSec=5",
        "DeferAcceptSec=",
        "TimeoutSec=5",
        "TimeoutSec=",
        "MessageQueueMaxMessages=5",
        "MessageQueueMaxMessages=",
        "MessageQueueMessageSize=5",
        "MessageQueueMessageSize=",
        "DeferTriggerMaxSec=5",
        "DeferTriggerMaxSec=",
        "X-USBActivationEvent=enable",
        "X-USBActivationEvent=",
        "DeferTrigger=yes",
        "DeferTrigger=",
        "Timestamping=ns",
        "Timestamping=",
        "BindIPv6Only=both",
        "BindIPv6Only=",
      ].join("\n"),
    );
    expect(c).toStrictEqual(newSocketConfig());
  });
});

describe("Listen*=", () => {
  test("addresses keep their text, file and line; an empty value clears the list", () => {
    const c = ok("ListenStream=/run/a.sock\nListenDatagram=@abs\nListenNetlink=route 5\nListenFIFO=/run/f");
    expect(c.listen.map((l) => [l.kind, l.text, l.file, l.line])).toEqual([
      ["stream", "/run/a.sock", "t.socket", 2],
      ["datagram", "@abs", "t.socket", 3],
      ["netlink", "route 5", "t.socket", 4],
      ["fifo", "/run/f", "t.socket", 5],
    ]);
    expect(ok("ListenStream=/run/a.sock\nListenStream=").listen).toEqual([]);
    expect(ok("ListenStream=/run/%n").listen[0]!.text).toBe("/run/t.socket");
  });

  test("unusable addresses are errors", () => {
    err("ListenStream", "nonsense", '"nonsense" is not a socket address (examples: /run/foo.sock, @abstract, 8080, 127.0.0.1:80, [::1]:80, vsock::1234)');
    err("ListenNetlink", "bogus", '"bogus" is not a netlink family (for example route, kobject-uevent, audit, or a number)');
    err("ListenStream", "/run//a", '"/run//a" is not a normalized path');
    err("ListenSequentialPacket", "/run/../a", '"/run/../a" is not a normalized path');
  });

  test("sequential packet sockets are AF_UNIX only", () => {
    const r = apply("ListenSequentialPacket=127.0.0.1:80\nListenSequentialPacket=/run/s");
    expect(r.diags).toEqual([
      "t.socket:2: warning: ListenSequentialPacket=: Address family not supported, ignoring: 127.0.0.1:80 (sequential packet sockets are AF_UNIX only)",
    ]);
    expect(r.c.listen.map((l) => l.text)).toEqual(["/run/s"]);
    expect(ok("ListenSequentialPacket=@abs").listen).toHaveLength(1);
  });

  test("/var/run/ becomes /run/ for paths, not for abstract names", () => {
    const r = apply("ListenStream=/var/run/x.sock");
    expect(r.diags).toEqual(["t.socket:2: notice: ListenStream=: /var/run/x.sock is under legacy directory /var/run/, using /run/ instead"]);
    expect(r.c.listen[0]).toMatchObject({ address: { family: "unix", path: "/run/x.sock", abstract: false }, text: "/var/run/x.sock" });
    expect(ok("ListenStream=@/var/run/x").listen[0]).toMatchObject({ address: { path: "/var/run/x", abstract: true } });
    expect(ok("ListenStream=/run/var/run/x").listen[0]).toMatchObject({ address: { path: "/run/var/run/x" } });
  });

  test("file-system kinds need absolute normalized paths", () => {
    for (const k of ["ListenFIFO", "ListenSpecial", "ListenMessageQueue", "ListenUSBFunction"]) err(k, "rel/x", '"rel/x" is not an absolute, normalized path');
  });

  test("FIFOs and message queues below /dev, /sys, /proc are ignored; special files are not", () => {
    for (const [k, p] of [
      ["ListenFIFO", "/dev/f"],
      ["ListenMessageQueue", "/proc"],
      ["ListenFIFO", "/sys/x"],
    ] as const) {
      const r = apply(`${k}=${p}`);
      expect(r.diags).toEqual([`t.socket:2: warning: ${k}=: path is below API VFS, ignoring: ${p}`]);
      expect(r.c.listen).toEqual([]);
    }
    expect(ok("ListenSpecial=/dev/ttyS0").listen[0]).toMatchObject({ kind: "special", path: "/dev/ttyS0" });
    expect(ok("ListenFIFO=/device/f").listen[0]).toMatchObject({ kind: "fifo", path: "/device/f" });
  });

  test("message queues are one component", () => {
    expect(ok("ListenMessageQueue=/q").listen[0]).toMatchObject({ kind: "mqueue", path: "/q" });
    err("ListenMessageQueue", "/a/b", '"/a/b" is not a message queue name ("/name", one component)');
  });

  test("USB functions below /dev are accepted with a notice", () => {
    const r = apply("ListenUSBFunction=/dev/ffs");
    expect(r.diags).toEqual([
      "t.socket:2: notice: ListenUSBFunction=: /dev/ffs is below /dev, /sys or /proc; systemd >= 256 refuses this, bunit accepts it (FunctionFS mounts under /run are portable to both)",
    ]);
    expect(r.c.listen[0]).toMatchObject({ kind: "usb-function", path: "/dev/ffs" });
    expect(ok("ListenUSBFunction=/run/ffs").listen[0]).toMatchObject({ kind: "usb-function", path: "/run/ffs" });
  });
});

describe("directives with their own syntax", () => {
  test("BindIPv6Only=", () => {
    const v = (x: string) => ok(`BindIPv6Only=${x}`).bindIPv6Only;
    expect([v("default"), v("both"), v("ipv6-only"), v("yes"), v("no")]).toEqual(["default", "both", "ipv6-only", "ipv6-only", "both"]);
    err("BindIPv6Only", "maybe", '"maybe" is not a boolean (use yes/no, true/false, on/off, 1/0)');
  });

  test("BindToDevice=: an interface name of at most 15 characters", () => {
    expect(ok("BindToDevice=abcdefghijklmno").bindToDevice).toBe("abcdefghijklmno");
    expect(ok("BindToDevice=lo\nBindToDevice=*").bindToDevice).toBeUndefined();
    expect(ok("BindToDevice=lo\nBindToDevice=").bindToDevice).toBeUndefined();
    for (const n of ["abcdefghijklmnop", "a/b", "a:b", "a b", ".", ".."]) err("BindToDevice", n, `"${n}" is not a valid interface name`);
  });

  test("IPTOS=: a name or 0..255", () => {
    const v = (x: string) => ok(`IPTOS=${x}`).ipTos;
    expect([v("low-delay"), v("throughput"), v("reliability"), v("low-cost"), v("255"), v("0")]).toEqual([0x10, 0x08, 0x04, 0x02, 255, 0]);
    expect(ok("IPTOS=5\nIPTOS=").ipTos).toBeUndefined();
    for (const x of ["256", "x1", "1x"]) err("IPTOS", x, `"${x}" is not an IP TOS value (0..255, low-delay, throughput, reliability, low-cost)`);
  });

  test("Timestamping=", () => {
    const v = (x: string) => ok(`Timestamping=${x}`).timestamping;
    expect(["off", "us", "usec", "µs", "μs", "ns", "nsec"].map(v)).toEqual(["off", "us", "us", "us", "us", "ns", "ns"]);
    err("Timestamping", "ms", '"ms" is not a timestamping mode (off, us, ns)');
  });

  test("TCPCongestion= is taken as written", () => {
    expect(ok("TCPCongestion=%n").tcpCongestion).toBe("%n");
  });

  test("Symlinks=: absolute normalized paths", () => {
    expect(ok("Symlinks=/a /b\nSymlinks=/c").symlinks).toEqual(["/a", "/b", "/c"]);
    expect(ok("Symlinks=/a\nSymlinks=").symlinks).toEqual([]);
    err("Symlinks", "rel", '"rel" is not an absolute, normalized path');
  });

  test("FileDescriptorName=", () => {
    expect(ok(`FileDescriptorName=${"n".repeat(255)}`).fileDescriptorName).toBe("n".repeat(255));
    expect(ok("FileDescriptorName=%n").fileDescriptorName).toBe("t.socket");
    expect(ok("FileDescriptorName=x\nFileDescriptorName=").fileDescriptorName).toBeUndefined();
    err("FileDescriptorName", "a:b", '"a:b" is not a valid file descriptor name (printable ASCII, no ":", at most 255 characters)');
    expect([isValidFdName("n".repeat(256)), isValidFdName(""), isValidFdName("a b"), isValidFdName("é"), isValidFdName("a\tb")]).toEqual([
      false,
      true,
      true,
      false,
      false,
    ]);
  });

  test("Service=: a service that is not a template", () => {
    expect(ok("Service=x@a.service").service).toBe("x@a.service");
    expect(ok("Service=%n.service").service).toBe("t.socket.service");
    expect(ok("Service=x.service\nService=").service).toBeUndefined();
    err("Service", "x.socket", '"x.socket" is not a service unit name');
    err("Service", "bad name", '"bad name" is not a service unit name');
    err("Service", "x@.service", '"x@.service" is a template; Service= needs a plain or instance name');
    expect([isValidServiceName("x.service"), isValidServiceName("x.socket"), isValidServiceName("bad")]).toEqual([true, false, false]);
  });

  test("DeferTrigger=", () => {
    const v = (x: string) => ok(`DeferTrigger=${x}`).deferTrigger;
    expect([v("patient"), v("yes"), v("no")]).toEqual(["patient", "yes", "no"]);
  });

  test("XAttr*=: user.NAME[=VALUE] words, unquoted and unescaped", () => {
    const c = ok('XAttrEntryPoint=user.a=b "user.c=d e" user.f user.g=\\x41\nXAttrListen=user.x=1\nXAttrAccept=user.y=2');
    expect(c.xattrEntryPoint).toEqual([
      ["user.a", "b"],
      ["user.c", "d e"],
      ["user.f", ""],
      ["user.g", "A"],
    ]);
    expect(c.xattrListen).toEqual([["user.x", "1"]]);
    expect(c.xattrAccept).toEqual([["user.y", "2"]]);
    expect(ok("XAttrAccept=user.y=2\nXAttrAccept=").xattrAccept).toEqual([]);
    expect(ok("XAttrListen=user.%n=1").xattrListen).toEqual([["user.t.socket", "1"]]);
    for (const x of ["trusted.a=b", "xuser.a=b", "user.=b", "=b", "user", "user.a b=c"])
      err("XAttrListen", x.includes(" ") ? `"${x}"` : x, `"${x}" is not an extended attribute of the form user.NAME=VALUE`);
  });

  test("SMACK and SELinux settings are validated, then reported as unsupported", () => {
    expect(apply("SmackLabel=x\nSmackLabelIPIn=x\nSmackLabelIPOut=x\nSELinuxContextFromNet=yes").diags).toEqual([
      "t.socket:2: notice: SmackLabel=: SMACK labels are not supported by bunit, ignoring",
      "t.socket:3: notice: SmackLabelIPIn=: SMACK labels are not supported by bunit, ignoring",
      "t.socket:4: notice: SmackLabelIPOut=: SMACK labels are not supported by bunit, ignoring",
      "t.socket:5: notice: SELinuxContextFromNet=: SELinux is not supported by bunit, ignoring",
    ]);
    err("SELinuxContextFromNet", "maybe", '"maybe" is not a boolean (use yes/no, true/false, on/off, 1/0)');
  });

  test("explicit trigger and poll limits win over the defaults", () => {
    const c = ok("TriggerLimitIntervalSec=5\nTriggerLimitBurst=3\nPollLimitIntervalSec=7\nPollLimitBurst=4");
    expect(effectiveLimits(c)).toEqual({ triggerIntervalUsec: 5e6, triggerBurst: 3, pollIntervalUsec: 7e6, pollBurst: 4 });
  });
});

describe("plain settings", () => {
  test("every boolean, number, size and string directive lands in its field", () => {
    const c = ok(
      [
        "SocketProtocol=mptcp",
        "Writable=yes",
        "FlushPending=yes",
        "KeepAlive=yes",
        "KeepAliveTimeSec=3",
        "KeepAliveIntervalSec=4",
        "KeepAliveProbes=5",
        "NoDelay=yes",
        "Priority=-2",
        "ReceiveBuffer=1K",
        "SendBuffer=2K",
        "IPTTL=9",
        "Mark=7",
        "PipeSize=4K",
        "FreeBind=yes",
        "Transparent=yes",
        "Broadcast=yes",
        "PassCredentials=yes",
        "PassPIDFD=yes",
        "PassSecurity=yes",
        "PassPacketInfo=yes",
        "AcceptFileDescriptors=no",
        "ReusePort=yes",
        "RemoveOnStop=yes",
        "PassFileDescriptorsToExec=yes",
        "X-USBEndpointNames=yes",
        "SocketUser=%n",
        "SocketGroup=g",
        "DeferTriggerMaxSec=0",
        "TimeoutSec=0",
      ].join("\n"),
    );
    expect(c).toMatchObject({
      socketProtocol: "mptcp",
      writable: true,
      flushPending: true,
      keepAlive: true,
      keepAliveTimeUsec: 3e6,
      keepAliveIntervalUsec: 4e6,
      keepAliveProbes: 5,
      noDelay: true,
      priority: -2,
      receiveBuffer: 1024,
      sendBuffer: 2048,
      ipTtl: 9,
      mark: 7,
      pipeSize: 4096,
      freeBind: true,
      transparent: true,
      broadcast: true,
      passCredentials: true,
      passPIDFD: true,
      passSecurity: true,
      passPacketInfo: true,
      acceptFileDescriptors: false,
      reusePort: true,
      removeOnStop: true,
      passFileDescriptorsToExec: true,
      usbEndpointNames: true,
      socketUser: "t.socket",
      socketGroup: "g",
      deferTriggerMaxUsec: Infinity,
      timeoutUsec: Infinity,
    });
    err("IPTTL", "0", "0 is out of range (1..255)");
    err("SocketProtocol", "tcp", '"tcp" is not one of: udplite, sctp, mptcp');
    expect(ok("X-USBActivationEvent=enable").usbActivation).toBe("enable");
    err("X-USBActivationEvent", "later", '"later" is not one of: first, enable');
  });
});
