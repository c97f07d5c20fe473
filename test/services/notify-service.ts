/**
 * A Type=notify test service. argv[2] is the behaviour:
 *   ready      READY=1 with STATUS=serving as PID; while a watchdog is set, pings it every third
 *              of its timeout with STATUS=serving as PID, N watchdog pings; runs until killed
 *   silent     READY=1, then never pings the watchdog
 *   early-exit exits 0 before READY=1
 *   fdstore    on the first run stores an fd holding "kept across restarts" as "mine" and, once
 *              the daemon has handled that (BARRIER=1), exits 1;
 *              when started with that fd it reports its content to argv[3] and runs
 *   fdstore-poll stores a socket twice and another with FDPOLL=0, then hangs up their peers
 *              when argv[3]/hangup appears (see the mode)
 * Services whose start timeout matters use test/services/notify-steps.c instead: it starts in a
 * millisecond, where Bun can take seconds on a loaded machine.
 */
import { closeSync, existsSync, openSync, readFileSync, renameSync, unlinkSync, writeFileSync } from "node:fs";
import { sdNotify, watchdogUsec } from "../../firmware/lib/sd-notify.ts";
import { listenFds } from "../../firmware/lib/listen-fds.ts";
import * as n from "../../firmware/native.ts";
import { AF_UNIX, EPOLLHUP, SOCK_STREAM } from "../../firmware/sys/constants.ts";

const mode = process.argv[2];
const forever = () => setInterval(() => {}, 1 << 30);

switch (mode) {
  case "ready": {
    sdNotify({ READY: 1, STATUS: `serving as ${process.pid}` });
    const wd = watchdogUsec();
    let pings = 0;
    if (wd) setInterval(() => sdNotify({ WATCHDOG: 1, STATUS: `serving as ${process.pid}, ${++pings} watchdog pings` }), wd / 1000 / 3);
    forever();
    break;
  }
  case "silent":
    sdNotify("READY=1");
    forever();
    break;
  case "early-exit":
    process.exit(0);
    break;
  case "fdstore": {
    const got = listenFds();
    const mine = got.find((f) => f.name === "mine");
    if (mine) {
      // Written aside and renamed: a reader that sees the file sees all of it.
      writeFileSync(`${process.argv[3]}.part`, readFileSync(`/proc/self/fd/${mine.fd}`, "utf8"));
      renameSync(`${process.argv[3]}.part`, process.argv[3]!);
      sdNotify("READY=1");
      forever();
      break;
    }
    const tmp = `${process.argv[3]}.tmp`;
    writeFileSync(tmp, "kept across restarts");
    const fd = openSync(tmp, "r");
    unlinkSync(tmp); // only the stored fd keeps the file alive
    sdNotify("FDSTORE=1\nFDNAME=mine", { fds: [fd] });
    closeSync(fd);
    sdNotify("READY=1");
    // BARRIER=1 (as sd_notify_barrier): the daemon closes the pipe's write end once it has
    // handled every earlier message, so the crash comes after the fd is stored, however slow.
    const [r, w] = n.pipe();
    sdNotify("BARRIER=1", { fds: [w] });
    n.close(w);
    if (!(n.pollOne(r, 0, 30_000) & EPOLLHUP)) console.error("fdstore: no barrier answer in 30 s");
    process.exit(1);
    break;
  }
  case "fdstore-poll": {
    // Stores one end of a socket pair twice (the second a dup) as "peer" and one end of another
    // pair with FDPOLL=0 as "quiet"; when DIR/hangup appears, closes both other ends.
    const dir = process.argv[3]!;
    const [a, b] = n.socketpair(AF_UNIX, SOCK_STREAM);
    const [c, d] = n.socketpair(AF_UNIX, SOCK_STREAM);
    const a2 = n.dupCloexec(a);
    sdNotify("FDSTORE=1\nFDNAME=peer", { fds: [a, a2] });
    sdNotify("FDSTORE=1\nFDNAME=quiet\nFDPOLL=0", { fds: [c] });
    for (const fd of [a, a2, c]) n.close(fd);
    sdNotify("READY=1");
    const t = setInterval(() => {
      if (!existsSync(`${dir}/hangup`)) return;
      clearInterval(t);
      n.close(b);
      n.close(d);
      writeFileSync(`${dir}/hung-up`, "");
    }, 20);
    forever();
    break;
  }
  default:
    console.error(`unknown mode ${mode}`);
    process.exit(2);
}
