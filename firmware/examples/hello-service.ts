/**
 * A socket-activated service in TypeScript: it takes its listening sockets from bunit
 * (LISTEN_FDS), answers every connection with a greeting that shows what it was given, and
 * exits after 20 idle seconds so that the socket activates it again on the next client.
 */
import * as n from "../native.ts";
import { EPOLLIN, SOCK_CLOEXEC, SOL_SOCKET, SO_ACCEPTCONN } from "../sys/constants.ts";
import { listenFds } from "../lib/listen-fds.ts";

const fds = listenFds();
const started = new Date().toISOString();
let served = 0;
let idle: ReturnType<typeof setTimeout>;
const resetIdle = () => {
  clearTimeout(idle);
  idle = setTimeout(() => process.exit(0), 20000);
};
resetIdle();
const w = n.fdWatcher();
for (const { fd } of fds) {
  if (n.getsockoptInt(fd, SOL_SOCKET, SO_ACCEPTCONN) !== 1) continue;
  w.watch(fd, EPOLLIN, () => {
    const c = n.accept(fd, SOCK_CLOEXEC);
    if (c) {
      served++;
      const text = `hello from bunit: pid ${process.pid}, started ${started}, fds ${fds.map((f) => `${f.fd}=${f.name}`).join(",")}, connection ${served}\n`;
      n.write(c.fd, new TextEncoder().encode(text));
      n.close(c.fd);
      resetIdle();
    }
    w.arm(fd, EPOLLIN);
  });
}
if (fds.length === 0) {
  console.error("hello-service: no LISTEN_FDS (start me through hello.socket)");
  process.exit(1);
}
