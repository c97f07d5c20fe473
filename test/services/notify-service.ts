/**
 * A Type=notify test service. argv[2] is the behaviour:
 *   ready      READY=1 with a STATUS=, pings the watchdog while one is set, runs until killed
 *   silent     READY=1, then never pings the watchdog
 *   early-exit exits 0 before READY=1
 *   fdstore    on the first run stores an fd holding "kept across restarts" as "mine" and exits 1;
 *              when started with that fd it reports its content to argv[3] and runs
 *   wrong-pid  a child process (not the main one) sends READY=1
 *   slow MS [USEC]  READY=1 only after MS milliseconds; first EXTEND_TIMEOUT_USEC=USEC if given
 */
import { closeSync, openSync, readFileSync, unlinkSync, writeFileSync } from "node:fs";
import { sdNotify, watchdogUsec } from "../../firmware/lib/sd-notify.ts";
import { listenFds } from "../../firmware/lib/listen-fds.ts";

const mode = process.argv[2];
const forever = () => setInterval(() => {}, 1 << 30);

switch (mode) {
  case "ready": {
    sdNotify({ READY: 1, STATUS: `serving as ${process.pid}` });
    const wd = watchdogUsec();
    if (wd) setInterval(() => sdNotify("WATCHDOG=1"), wd / 1000 / 3);
    forever();
    break;
  }
  case "silent":
    sdNotify("READY=1");
    forever();
    break;
  case "slow": {
    if (process.argv[4]) sdNotify(`EXTEND_TIMEOUT_USEC=${process.argv[4]}`);
    setTimeout(() => sdNotify("READY=1"), Number(process.argv[3]));
    forever();
    break;
  }
  case "early-exit":
    process.exit(0);
    break;
  case "fdstore": {
    const got = listenFds();
    const mine = got.find((f) => f.name === "mine");
    if (mine) {
      writeFileSync(process.argv[3]!, readFileSync(`/proc/self/fd/${mine.fd}`, "utf8"));
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
    setTimeout(() => process.exit(1), 200);
    break;
  }
  case "wrong-pid": {
    Bun.spawnSync([process.execPath, "-e", `require(${JSON.stringify(import.meta.dir + "/../../firmware/lib/sd-notify.ts")}).sdNotify("READY=1")`]);
    forever();
    break;
  }
  default:
    console.error(`unknown mode ${mode}`);
    process.exit(2);
}
