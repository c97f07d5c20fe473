import { describe, expect, test } from "bun:test";
import { socketFromText, unitFromText } from "../../test/support/units.ts";
import { effectiveLimits } from "./socket-config.ts";
import { verifySocket, verifySocketService } from "./unit-verify.ts";
import { SOMAXCONN_DELUXE } from "../sys/constants.ts";

const one = (line: string) => {
  const r = socketFromText(`ListenStream=/run/x.sock\n${line}`);
  const errors = r.diagnostics.filter((d) => d.level === "error");
  if (errors.length) throw new Error(errors.map((e) => e.message).join("; "));
  return r.socket;
};

describe("[Socket] directives parse into the configuration", () => {
  test("defaults are systemd's", () => {
    const s = one("");
    expect(s).toMatchObject({
      backlog: SOMAXCONN_DELUXE,
      socketMode: 0o666,
      directoryMode: 0o755,
      maxConnections: 64,
      accept: false,
      timeoutUsec: 90e6,
      deferTrigger: "no",
    });
    expect(effectiveLimits(s)).toEqual({ triggerIntervalUsec: 2e6, triggerBurst: 20, pollIntervalUsec: 2e6, pollBurst: 15 });
    expect(effectiveLimits(one("Accept=yes"))).toEqual({ triggerIntervalUsec: 2e6, triggerBurst: 200, pollIntervalUsec: 2e6, pollBurst: 150 });
  });

  const cases: [string, (s: ReturnType<typeof one>) => unknown, unknown][] = [
    ["SocketProtocol=sctp", (s) => s.socketProtocol, "sctp"],
    ["BindIPv6Only=ipv6-only", (s) => s.bindIPv6Only, "ipv6-only"],
    ["BindIPv6Only=no", (s) => s.bindIPv6Only, "both"],
    ["Backlog=7", (s) => s.backlog, 7],
    ["BindToDevice=lo", (s) => s.bindToDevice, "lo"],
    ["SocketUser=nobody", (s) => s.socketUser, "nobody"],
    ["SocketGroup=adm", (s) => s.socketGroup, "adm"],
    ["SocketMode=0600", (s) => s.socketMode, 0o600],
    ["DirectoryMode=0700", (s) => s.directoryMode, 0o700],
    ["Accept=yes", (s) => s.accept, true],
    ["Writable=yes", (s) => s.writable, true],
    ["FlushPending=yes", (s) => s.flushPending, true],
    ["MaxConnections=3", (s) => s.maxConnections, 3],
    ["MaxConnectionsPerSource=2", (s) => s.maxConnectionsPerSource, 2],
    ["KeepAlive=yes", (s) => s.keepAlive, true],
    ["KeepAliveTimeSec=1min", (s) => s.keepAliveTimeUsec, 60e6],
    ["KeepAliveIntervalSec=5", (s) => s.keepAliveIntervalUsec, 5e6],
    ["KeepAliveProbes=4", (s) => s.keepAliveProbes, 4],
    ["NoDelay=yes", (s) => s.noDelay, true],
    ["Priority=6", (s) => s.priority, 6],
    ["DeferAcceptSec=3", (s) => s.deferAcceptUsec, 3e6],
    ["ReceiveBuffer=128K", (s) => s.receiveBuffer, 131072],
    ["SendBuffer=1M", (s) => s.sendBuffer, 1048576],
    ["IPTOS=low-delay", (s) => s.ipTos, 0x10],
    ["IPTOS=32", (s) => s.ipTos, 32],
    ["IPTTL=9", (s) => s.ipTtl, 9],
    ["Mark=42", (s) => s.mark, 42],
    ["PipeSize=64K", (s) => s.pipeSize, 65536],
    ["FreeBind=yes", (s) => s.freeBind, true],
    ["Transparent=yes", (s) => s.transparent, true],
    ["Broadcast=yes", (s) => s.broadcast, true],
    ["PassCredentials=yes", (s) => s.passCredentials, true],
    ["PassPIDFD=yes", (s) => s.passPIDFD, true],
    ["PassSecurity=yes", (s) => s.passSecurity, true],
    ["PassPacketInfo=yes", (s) => s.passPacketInfo, true],
    ["AcceptFileDescriptors=no", (s) => s.acceptFileDescriptors, false],
    ["Timestamping=ns", (s) => s.timestamping, "ns"],
    ["Timestamping=usec", (s) => s.timestamping, "us"],
    ["TCPCongestion=reno", (s) => s.tcpCongestion, "reno"],
    ["ReusePort=yes", (s) => s.reusePort, true],
    ["MessageQueueMaxMessages=10", (s) => s.mqMaxMessages, 10],
    ["MessageQueueMessageSize=128", (s) => s.mqMessageSize, 128],
    ["RemoveOnStop=yes", (s) => s.removeOnStop, true],
    ["Symlinks=/run/a /run/b", (s) => s.symlinks, ["/run/a", "/run/b"]],
    ["FileDescriptorName=web", (s) => s.fileDescriptorName, "web"],
    ["Service=other.service", (s) => s.service, "other.service"],
    ["TriggerLimitIntervalSec=5s", (s) => s.triggerLimitIntervalUsec, 5e6],
    ["TriggerLimitBurst=3", (s) => s.triggerLimitBurst, 3],
    ["PollLimitIntervalSec=10s", (s) => s.pollLimitIntervalUsec, 10e6],
    ["PollLimitBurst=3", (s) => s.pollLimitBurst, 3],
    ["DeferTrigger=patient", (s) => s.deferTrigger, "patient"],
    ["DeferTrigger=yes", (s) => s.deferTrigger, "yes"],
    ["DeferTriggerMaxSec=20s", (s) => s.deferTriggerMaxUsec, 20e6],
    ["PassFileDescriptorsToExec=yes", (s) => s.passFileDescriptorsToExec, true],
    ["XAttrEntryPoint=user.varlink=entrypoint", (s) => s.xattrEntryPoint, [["user.varlink", "entrypoint"]]],
    [
      "XAttrListen=user.a=1 user.b=2",
      (s) => s.xattrListen,
      [
        ["user.a", "1"],
        ["user.b", "2"],
      ],
    ],
    ["XAttrAccept=user.c=3", (s) => s.xattrAccept, [["user.c", "3"]]],
    ["TimeoutSec=5", (s) => s.timeoutUsec, 5e6],
    ["TimeoutSec=0", (s) => s.timeoutUsec, Infinity],
    ["ExecStartPre=/bin/echo pre", (s) => s.execStartPre.map((c) => c.argv), [["/bin/echo", "pre"]]],
    ["ExecStartPost=/bin/echo post", (s) => s.execStartPost.length, 1],
    ["ExecStopPre=/bin/echo stoppre", (s) => s.execStopPre.length, 1],
    ["ExecStopPost=/bin/echo stoppost", (s) => s.execStopPost.length, 1],
    ["User=nobody", (s) => s.exec.user, "nobody"],
    ["KillSignal=SIGINT", (s) => s.kill.killSignal, 2],
  ];
  for (const [line, get, want] of cases) test(line, () => expect(get(one(line))).toEqual(want));

  test("every Listen*= kind", () => {
    const { socket, diagnostics } = socketFromText(
      "ListenStream=80\nListenDatagram=127.0.0.1:53\nListenSequentialPacket=@seq\nListenFIFO=/run/f.fifo\nListenSpecial=/dev/kmsg\nListenNetlink=kobject-uevent 1\nListenMessageQueue=/q\nListenUSBFunction=/run/ffs/echo",
    );
    expect(diagnostics.filter((d) => d.level !== "notice")).toEqual([]);
    expect(socket.listen.map((p) => p.kind)).toEqual(["stream", "datagram", "seqpacket", "fifo", "special", "netlink", "mqueue", "usb-function"]);
  });

  test("empty assignment resets the Listen list; specifiers expand", () => {
    const u = unitFromText("w@.socket", "[Socket]\nListenStream=1\n", ["[Socket]\nListenStream=\nListenStream=%t/%p.sock\n"]);
    expect(u.socket!.listen.map((p) => p.text)).toEqual(["/run/w.sock"]);
  });

  test("sequential packet sockets are AF_UNIX only (dropped with a warning)", () => {
    const { socket, diagnostics } = socketFromText("ListenSequentialPacket=127.0.0.1:5\nListenStream=/run/a");
    expect(socket.listen).toHaveLength(1);
    expect(diagnostics[0]).toMatchObject({ level: "warning", key: "ListenSequentialPacket", line: 2 });
  });

  test("FIFOs below /dev are dropped as systemd >= 256 does; USB functions there are accepted", () => {
    const { socket, diagnostics } = socketFromText("ListenFIFO=/dev/shm/f\nListenUSBFunction=/dev/usb-ffs/x");
    expect(socket.listen.map((p) => p.kind)).toEqual(["usb-function"]);
    expect(diagnostics.map((d) => d.level)).toEqual(["warning", "notice"]);
  });

  test("invalid values are errors naming file, line and directive", () => {
    const { diagnostics, unit } = socketFromText("ListenStream=/run/x\nBacklog=lots\nAccept=perhaps\nListenStream=vsock:2\nSocketMode=999");
    expect(diagnostics.map((d) => [d.line, d.key, d.level])).toEqual([
      [3, "Backlog", "error"],
      [4, "Accept", "error"],
      [5, "ListenStream", "error"],
      [6, "SocketMode", "error"],
    ]);
    expect(diagnostics.every((d) => d.file === "/test/t.socket")).toBe(true);
    expect(unit.loadState).toBe("bad-setting");
  });

  test("unknown keys warn like systemd; known systemd keys bunit ignores are notices", () => {
    const { diagnostics } = socketFromText("ListenStream=1\nListenStraem=2\nSmackLabel=x");
    expect(diagnostics.map((d) => [d.key, d.level, d.message])).toEqual([
      ["ListenStraem", "warning", "Unknown key name 'ListenStraem' in section 'Socket', ignoring."],
      ["SmackLabel", "notice", "SMACK labels are not supported by bunit, ignoring"],
    ]);
  });
});

describe("socket verification (systemd's socket_verify rules)", () => {
  const errs = (body: string) =>
    verifySocket(socketFromText(body).unit)
      .filter((d) => d.level === "error")
      .map((d) => d.message);
  test("no Listen setting", () => expect(errs("Accept=no")[0]).toContain("no Listen setting"));
  test("Accept=yes refused on non-accepting sockets", () => {
    for (const l of [
      "ListenDatagram=1",
      "ListenFIFO=/run/f",
      "ListenNetlink=route 1",
      "ListenMessageQueue=/q",
      "ListenUSBFunction=/run/ffs",
      "ListenSpecial=/dev/null",
    ]) {
      expect(errs(`${l}\nAccept=yes`)[0]).toContain("non-accepting");
    }
    expect(errs("ListenStream=1\nListenSequentialPacket=/run/s\nAccept=yes")).toEqual([]);
  });
  test("MaxConnections=0 refused", () => expect(errs("ListenStream=1\nMaxConnections=0")[0]).toContain("MaxConnections"));
  test("Service= with Accept=yes refused", () => expect(errs("ListenStream=1\nAccept=yes\nService=x.service")[0]).toContain("Explicit service"));
  test("DeferTrigger= with Accept=yes refused", () => expect(errs("ListenStream=1\nAccept=yes\nDeferTrigger=yes")[0]).toContain("DeferTrigger"));
  test("Symlinks= needs exactly one file-system socket", () => {
    expect(errs("ListenStream=80\nSymlinks=/run/l")[0]).toContain("symlinks");
    expect(errs("ListenStream=/run/a\nListenFIFO=/run/b\nSymlinks=/run/l")[0]).toContain("symlinks");
    expect(errs("ListenStream=/run/a\nListenStream=80\nSymlinks=/run/l")).toEqual([]);
  });
  test("message queue sizes both or none", () => {
    const ds = verifySocket(socketFromText("ListenMessageQueue=/q\nMessageQueueMaxMessages=5").unit);
    expect(ds[0]).toMatchObject({ level: "warning", key: "MessageQueueMaxMessages" });
    expect(verifySocket(socketFromText("ListenMessageQueue=/q\nMessageQueueMaxMessages=5\nMessageQueueMessageSize=64").unit)).toEqual([]);
  });
  test("StandardInput=socket needs exactly one fd", () => {
    const sock = socketFromText("ListenStream=1\nListenStream=2").unit;
    const svc = unitFromText("t.service", "[Service]\nExecStart=/bin/cat\nStandardInput=socket\n");
    expect(verifySocketService(sock, () => svc)[0]!.message).toContain("exactly one socket");
  });
});
