/**
 * Every socket option of systemd.socket(5), applied by the daemon and read back from the
 * daemon's own fd with getsockopt() (or the kernel's view: ss, stat, mq_getattr).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { lstatSync, readlinkSync, existsSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { $ } from "zx";
import * as n from "../../firmware/native.ts";
import * as C from "../../firmware/sys/constants.ts";
import { openPty, TestDaemon, testPort, xattrAnswer } from "../support/harness.ts";

$.verbose = false;

let d: TestDaemon;
const pty = openPty();
// XAttr*= take user.* attributes only (the parser refuses others). What this kernel answers to
// them on a socket's file (XAttrEntryPoint=) and on a socket's own inode (XAttrListen=):
// null where it allows them, else the errno name.
const xattr = {
  entry: xattrAnswer("path", "user.varlink", tmpdir()),
  listen: xattrAnswer("fd", "user.role", tmpdir()),
};
/** An extended attribute read with getfattr (Debian package attr): its value, or getfattr's complaint. */
function getfattr(path: string, name: string): { value: string } | { error: string } {
  const r = Bun.spawnSync(["getfattr", "--absolute-names", "--only-values", "-n", name, path]);
  if (r.exitCode === 0) return { value: r.stdout.toString() };
  return { error: r.stderr.toString().trim().replace(/^.*: /, "") };
}
const port = { tcp: 0, tcp6: 0, udp: 0, mptcp: 0, backlog: 0, v6only: 0, both: 0 };
const fdOf = (unit: string, i = 0) => d.socket(unit).ports[i]!.fd;
const intOpt = (unit: string, level: number, name: number, i = 0) => n.getsockoptInt(fdOf(unit, i), level, name);

beforeAll(async () => {
  for (const k of Object.keys(port) as (keyof typeof port)[]) port[k] = testPort();
  d = await TestDaemon.start({
    "tcp.socket": `[Socket]
ListenStream=127.0.0.1:${port.tcp}
KeepAlive=yes
KeepAliveTimeSec=77
KeepAliveIntervalSec=13
KeepAliveProbes=4
NoDelay=yes
Priority=5
DeferAcceptSec=3
ReceiveBuffer=96K
SendBuffer=48K
IPTOS=low-delay
IPTTL=17
Mark=42
FreeBind=yes
Transparent=yes
ReusePort=yes
TCPCongestion=reno
BindToDevice=lo
PassPacketInfo=yes
Timestamping=ns
[Install]
WantedBy=sockets.target
`,
    "tcp.service": "[Service]\nExecStart=/bin/true\n",
    "tcp6.socket": `[Socket]\nListenStream=[::1]:${port.tcp6}\nIPTTL=9\nPassPacketInfo=yes\nPriority=5\n[Install]\nWantedBy=sockets.target\n`,
    "tcp6.service": "[Service]\nExecStart=/bin/true\n",
    "v6only.socket": `[Socket]\nListenStream=[::]:${port.v6only}\nBindIPv6Only=ipv6-only\n[Install]\nWantedBy=sockets.target\n`,
    "v6only.service": "[Service]\nExecStart=/bin/true\n",
    "both.socket": `[Socket]\nListenStream=[::]:${port.both}\nBindIPv6Only=both\n[Install]\nWantedBy=sockets.target\n`,
    "both.service": "[Service]\nExecStart=/bin/true\n",
    "udp.socket": `[Socket]\nListenDatagram=127.0.0.1:${port.udp}\nBroadcast=yes\nTimestamping=us\nSocketProtocol=udplite\n[Install]\nWantedBy=sockets.target\n`,
    "udp.service": "[Service]\nExecStart=/bin/true\n",
    "mptcp.socket": `[Socket]\nListenStream=127.0.0.1:${port.mptcp}\nSocketProtocol=mptcp\n[Install]\nWantedBy=sockets.target\n`,
    "mptcp.service": "[Service]\nExecStart=/bin/true\n",
    "backlog.socket": `[Socket]\nListenStream=127.0.0.1:${port.backlog}\nBacklog=7\n[Install]\nWantedBy=sockets.target\n`,
    "backlog.service": "[Service]\nExecStart=/bin/true\n",
    "unix.socket": `[Socket]
ListenStream=@DIR@/a/b/unix.sock
SocketMode=0620
DirectoryMode=0710
SocketUser=nobody
SocketGroup=nogroup
PassCredentials=yes
PassSecurity=yes
PassPIDFD=yes
AcceptFileDescriptors=no
Symlinks=@DIR@/links/one @DIR@/links/two
RemoveOnStop=yes
XAttrEntryPoint=user.varlink=entrypoint
XAttrListen=user.role=listener
[Install]
WantedBy=sockets.target
`,
    "unix.service": "[Service]\nExecStart=/bin/true\n",
    "fifo.socket": "[Socket]\nListenFIFO=@DIR@/f/fifo\nPipeSize=128K\nSocketMode=0640\n[Install]\nWantedBy=sockets.target\n",
    "fifo.service": "[Service]\nExecStart=/bin/true\n",
    "mq.socket": `[Socket]\nListenMessageQueue=/bunit-test-${process.pid}\nMessageQueueMaxMessages=3\nMessageQueueMessageSize=77\nSocketMode=0600\nRemoveOnStop=yes\n[Install]\nWantedBy=sockets.target\n`,
    "mq.service": "[Service]\nExecStart=/bin/true\n",
    "special.socket": `[Socket]\nListenSpecial=${pty.path}\nWritable=yes\n[Install]\nWantedBy=sockets.target\n`,
    "special.service": "[Service]\nExecStart=/bin/true\n",
    "ro.socket": `[Socket]\nListenSpecial=${pty.path}\n[Install]\nWantedBy=sockets.target\n`,
    "ro.service": "[Service]\nExecStart=/bin/true\n",
    "nl.socket": "[Socket]\nListenNetlink=route 1\nReceiveBuffer=256K\nPassCredentials=yes\n[Install]\nWantedBy=sockets.target\n",
    "nl.service": "[Service]\nExecStart=/bin/true\n",
  });
});
afterAll(() => d?.stop());

describe("socket options are applied (read back with getsockopt)", () => {
  test("all sockets listen", () => {
    for (const u of ["tcp", "tcp6", "v6only", "both", "udp", "mptcp", "backlog", "unix", "fifo", "mq", "special", "ro", "nl"])
      expect(`${u}: ${d.sub(`${u}.socket`)}`).toBe(`${u}: listening`);
  });
  test("KeepAlive=, KeepAliveTimeSec=, KeepAliveIntervalSec=, KeepAliveProbes=", () => {
    expect(intOpt("tcp.socket", C.SOL_SOCKET, C.SO_KEEPALIVE)).toBe(1);
    expect(intOpt("tcp.socket", C.SOL_TCP, C.TCP_KEEPIDLE)).toBe(77);
    expect(intOpt("tcp.socket", C.SOL_TCP, C.TCP_KEEPINTVL)).toBe(13);
    expect(intOpt("tcp.socket", C.SOL_TCP, C.TCP_KEEPCNT)).toBe(4);
  });
  test("NoDelay=", () => expect(intOpt("tcp.socket", C.SOL_TCP, C.TCP_NODELAY)).toBe(1));
  test("Priority= (IPTOS= overrides it in the kernel, as with systemd)", () => {
    expect(intOpt("tcp6.socket", C.SOL_SOCKET, C.SO_PRIORITY)).toBe(5);
    expect(intOpt("tcp.socket", C.SOL_SOCKET, C.SO_PRIORITY)).toBe(6);
  });
  test("DeferAcceptSec=", () => expect(intOpt("tcp.socket", C.SOL_TCP, C.TCP_DEFER_ACCEPT)).toBe(3));
  test("ReceiveBuffer= and SendBuffer= (the kernel reports twice the value)", () => {
    expect(intOpt("tcp.socket", C.SOL_SOCKET, C.SO_RCVBUF)).toBe(2 * 96 * 1024);
    expect(intOpt("tcp.socket", C.SOL_SOCKET, C.SO_SNDBUF)).toBe(2 * 48 * 1024);
  });
  test("ReceiveBuffer= above rmem_max uses SO_RCVBUFFORCE (root)", () => expect(intOpt("nl.socket", C.SOL_SOCKET, C.SO_RCVBUF)).toBe(2 * 256 * 1024));
  test("IPTOS=", () => expect(intOpt("tcp.socket", C.SOL_IP, C.IP_TOS)).toBe(0x10));
  test("IPTTL= (IPv4 and IPv6)", () => {
    expect(intOpt("tcp.socket", C.SOL_IP, C.IP_TTL)).toBe(17);
    expect(intOpt("tcp6.socket", C.SOL_IPV6, C.IPV6_UNICAST_HOPS)).toBe(9);
  });
  test("Mark=", () => expect(intOpt("tcp.socket", C.SOL_SOCKET, C.SO_MARK)).toBe(42));
  test("FreeBind=, Transparent=, ReusePort=", () => {
    expect(intOpt("tcp.socket", C.SOL_IP, C.IP_FREEBIND)).toBe(1);
    expect(intOpt("tcp.socket", C.SOL_IP, C.IP_TRANSPARENT)).toBe(1);
    expect(intOpt("tcp.socket", C.SOL_SOCKET, C.SO_REUSEPORT)).toBe(1);
  });
  test("TCPCongestion=", () => {
    const b = n.getsockoptBytes(fdOf("tcp.socket"), C.SOL_TCP, C.TCP_CONGESTION, 16);
    expect(new TextDecoder().decode(b).replace(/\0.*$/s, "")).toBe("reno");
  });
  test("BindToDevice=", () => {
    const b = n.getsockoptBytes(fdOf("tcp.socket"), C.SOL_SOCKET, C.SO_BINDTODEVICE, 16);
    expect(new TextDecoder().decode(b).replace(/\0.*$/s, "")).toBe("lo");
  });
  test("PassPacketInfo= (IP_PKTINFO / IPV6_RECVPKTINFO)", () => {
    expect(intOpt("tcp.socket", C.SOL_IP, C.IP_PKTINFO)).toBe(1);
    expect(intOpt("tcp6.socket", C.SOL_IPV6, C.IPV6_RECVPKTINFO)).toBe(1);
  });
  test("Timestamping= (ns and us)", () => {
    expect(intOpt("tcp.socket", C.SOL_SOCKET, C.SO_TIMESTAMPNS)).toBe(1);
    expect(intOpt("udp.socket", C.SOL_SOCKET, C.SO_TIMESTAMP)).toBe(1);
  });
  test("Broadcast=", () => expect(intOpt("udp.socket", C.SOL_SOCKET, C.SO_BROADCAST)).toBe(1));
  test("SocketProtocol= (udplite for datagrams, mptcp for streams)", () => {
    expect(intOpt("udp.socket", C.SOL_SOCKET, C.SO_PROTOCOL)).toBe(C.IPPROTO_UDPLITE);
    expect(intOpt("mptcp.socket", C.SOL_SOCKET, C.SO_PROTOCOL)).toBe(C.IPPROTO_MPTCP);
    expect(intOpt("tcp.socket", C.SOL_SOCKET, C.SO_PROTOCOL)).toBe(C.IPPROTO_TCP);
  });
  test("BindIPv6Only=", () => {
    expect(intOpt("v6only.socket", C.IPPROTO_IPV6, C.IPV6_V6ONLY)).toBe(1);
    expect(intOpt("both.socket", C.IPPROTO_IPV6, C.IPV6_V6ONLY)).toBe(0);
  });
  test("Backlog= (ss shows it as Send-Q of the listening socket)", async () => {
    const out = (await $`ss -Hltn sport = :${port.backlog}`).stdout.trim().split(/\s+/);
    expect(out[2]).toBe("7");
  });
  test("PassCredentials=, PassSecurity=, PassPIDFD=, AcceptFileDescriptors=no", () => {
    expect(intOpt("unix.socket", C.SOL_SOCKET, C.SO_PASSCRED)).toBe(1);
    expect(intOpt("unix.socket", C.SOL_SOCKET, C.SO_PASSSEC)).toBe(1);
    expect(intOpt("unix.socket", C.SOL_SOCKET, C.SO_PASSPIDFD)).toBe(1);
    expect(intOpt("unix.socket", C.SOL_SOCKET, C.SO_PASSRIGHTS)).toBe(0);
    expect(intOpt("nl.socket", C.SOL_SOCKET, C.SO_PASSCRED)).toBe(1);
  });
  test("SocketMode=, DirectoryMode=, SocketUser=, SocketGroup=", () => {
    const st = statSync(d.path("a/b/unix.sock"));
    expect(st.isSocket()).toBe(true);
    expect(st.mode & 0o777).toBe(0o620);
    expect(st.uid).toBe(n.getpwnam("nobody")!.uid);
    expect(st.gid).toBe(n.getgrnam("nogroup")!);
    expect(statSync(d.path("a/b")).mode & 0o777).toBe(0o710);
    expect(statSync(d.path("f/fifo")).mode & 0o777).toBe(0o640);
  });
  test("Symlinks=", () => {
    for (const l of ["one", "two"]) {
      expect(lstatSync(d.path("links", l)).isSymbolicLink()).toBe(true);
      expect(readlinkSync(d.path("links", l))).toBe(d.path("a/b/unix.sock"));
    }
  });
  // The probe above decides which outcome each test asserts; a test whose case this kernel does
  // not offer is skipped, saying why.
  const refuses = (code: string | null) => (code ? ` [skipped: this kernel refuses it: ${code}]` : "");
  const allows = (code: string | null) => (code ? `, ${code}` : " [skipped: this kernel allows it]");
  test.skipIf(xattr.entry !== null)(`XAttrEntryPoint=: set on the socket file where the kernel allows user.* there${refuses(xattr.entry)}`, () => {
    expect(getfattr(d.path("a/b/unix.sock"), "user.varlink")).toEqual({ value: "entrypoint" });
    expect(d.messages("unix.socket").filter((m) => m.startsWith("XAttrEntryPoint="))).toEqual([]);
  });
  test.skipIf(xattr.entry === null)(`XAttrEntryPoint=: the kernel's refusal of user.* on a socket file is logged, nothing set${allows(xattr.entry)}`, () => {
    expect(d.messages("unix.socket")).toContainEqual(
      expect.stringMatching(new RegExp(`^XAttrEntryPoint=user\\.varlink: lsetxattr .*\\(${xattr.entry}\\), ignoring$`)),
    );
    expect(getfattr(d.path("a/b/unix.sock"), "user.varlink")).toEqual({ error: "No such attribute" });
  });
  // XAttrListen= goes to the socket's own inode, read here through the daemon's fd in /proc.
  const listenFd = () => `/proc/${process.pid}/fd/${fdOf("unix.socket")}`;
  test.skipIf(xattr.listen !== null)(`XAttrListen=: set on the socket's inode where the kernel allows user.* there${refuses(xattr.listen)}`, () => {
    expect(getfattr(listenFd(), "user.role")).toEqual({ value: "listener" });
    expect(d.messages("unix.socket").filter((m) => m.startsWith("XAttrListen="))).toEqual([]);
  });
  test.skipIf(xattr.listen === null)(`XAttrListen=: the kernel's refusal of user.* on a socket's inode is logged, nothing set${allows(xattr.listen)}`, () => {
    expect(d.messages("unix.socket")).toContainEqual(
      expect.stringMatching(new RegExp(`^XAttrListen=user\\.role: fsetxattr user\\.role: .*\\(${xattr.listen}\\), ignoring$`)),
    );
    expect(getfattr(listenFd(), "user.role")).toEqual({ error: "No such attribute" });
  });
  test("PipeSize=", () => expect(n.fcntl(fdOf("fifo.socket"), C.F_GETPIPE_SZ)).toBe(128 * 1024));
  test("MessageQueueMaxMessages=, MessageQueueMessageSize=, SocketMode= on a queue", () => {
    const a = n.mqGetattr(fdOf("mq.socket"));
    expect(a.maxMsg).toBe(3);
    expect(a.msgSize).toBe(77);
    expect(n.fstat(fdOf("mq.socket")).mode & 0o777).toBe(0o600);
  });
  test("Writable= opens ListenSpecial= read-write", () => {
    expect(n.fcntl(fdOf("special.socket"), C.F_GETFL) & 3).toBe(C.O_RDWR);
    expect(n.fcntl(fdOf("ro.socket"), C.F_GETFL) & 3).toBe(C.O_RDONLY);
  });
  test("ListenNetlink= binds the group mask", () => {
    const a = n.getsockname(fdOf("nl.socket"));
    expect(a).toMatchObject({ family: "netlink", groups: 1 });
    expect(intOpt("nl.socket", C.SOL_SOCKET, C.SO_PROTOCOL)).toBe(0);
  });
  test("RemoveOnStop= removes the socket file, symlinks and the queue", async () => {
    await d.manager.stop("unix.socket");
    await d.manager.stop("mq.socket");
    await d.waitState("unix.socket", "dead");
    expect(existsSync(d.path("a/b/unix.sock"))).toBe(false);
    expect(existsSync(d.path("links/one"))).toBe(false);
    expect(() => n.mqOpen(`/bunit-test-${process.pid}`, C.O_RDONLY, 0)).toThrow(/ENOENT/);
    // Without RemoveOnStop= the FIFO stays.
    await d.manager.stop("fifo.socket");
    expect(existsSync(d.path("f/fifo"))).toBe(true);
  });
});
