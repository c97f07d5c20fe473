/**
 * A service for ListenNetlink=kobject-uevent: takes the netlink fd from LISTEN_FDS, reads the
 * uevents with bunit's library (validated: kernel only) and writes them, one per line, to the
 * file named in argv[2], with the socket options it found.
 */
import { appendFileSync, writeFileSync } from "node:fs";
import { listenFds } from "../../firmware/lib/listen-fds.ts";
import * as n from "../../firmware/native.ts";
import { SO_PASSCRED, SOL_SOCKET } from "../../firmware/sys/constants.ts";
import { UeventMonitor } from "../../firmware/uevent/monitor.ts";

const out = process.argv[2]!;
const [fd] = listenFds();
if (!fd) throw new Error("no fd in LISTEN_FDS");
writeFileSync(
  out,
  `fd=${fd.fd} name=${fd.name} protocol=${n.getsockoptInt(fd.fd, SOL_SOCKET, 38 /* SO_PROTOCOL */)} passcred=${n.getsockoptInt(fd.fd, SOL_SOCKET, SO_PASSCRED)}\n`,
);
const m = UeventMonitor.fromFd(fd.fd);
m.onEvent((ev) => appendFileSync(out, `${ev.action} ${ev.devpath} ${ev.subsystem}\n`));
m.onReject((why) => appendFileSync(out, `rejected: ${why}\n`));
m.drain();
