/**
 * `bunit daemon [OPTIONS]` (DAEMON_HELP lists them):
 * loads the units, starts the target (default.target: every enabled unit), serves socket
 * activation and the control socket until SIGTERM or SIGINT, then stops everything and exits.
 *
 * With --gadget, the USB gadget described in FILE is composed in configfs before any unit
 * starts (so ListenUSBFunction= sockets find their FunctionFS mounts) and bound to the UDC once
 * every FunctionFS function has its descriptors; on stop it is unbound first, then the units
 * stop, then it is removed. A gadget that cannot be composed or bound is logged as an error;
 * the other units run regardless.
 *
 * After `bunit daemon-reexec` the same command line runs again in the same process, with the
 * previous process's state (see daemon/reexec.ts and reexec-state.ts).
 */
import { readFileSync, statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import * as n from "../native.ts";
import { errorText } from "../core/errors.ts";
import { Logger, streamSink, type LogLevel } from "../core/log.ts";
import { installLayout } from "../install/layout.ts";
import { firstBoot } from "../install/operations.ts";
import { LogRing } from "../core/log-ring.ts";
import { syslogSink } from "../core/syslog.ts";
import { controlHandler } from "../control/handlers.ts";
import { DEFAULT_CONTROL_PATH } from "../control/protocol.ts";
import { ControlServer } from "../control/server.ts";
import { ManagerControl } from "../daemon/controlled-system.ts";
import { Manager } from "../daemon/manager.ts";
import { NotifySocket } from "../daemon/notify-socket.ts";
import { reapOrphans } from "../daemon/reaper.ts";
import { adoptState, takeState, type ReexecState } from "../daemon/reexec-state.ts";
import { Reexec } from "../daemon/reexec.ts";
import { cleanStaleCgroups } from "../daemon/stale-cleanup.ts";
import { HardwareWatchdog, openWatchdog } from "../daemon/hw-watchdog.ts";
import { realClock } from "../core/clock.ts";
import { CgroupTree } from "../exec/cgroup.ts";
import { hostFacts } from "../unit/host-facts.ts";
import { defaultUnitPath } from "../unit/unit-path.ts";
import { Gadget } from "../usb/gadget.ts";
import { parseGadgetFile } from "../usb/gadget-config.ts";
import { kernelGadgetIo } from "../usb/gadget-kernel.ts";
import { FunctionReadiness } from "../usb/function-readiness.ts";
import { VERSION } from "../version.ts";

const LOG_TARGETS = ["console", "syslog", "none"] as const;
type LogTarget = (typeof LOG_TARGETS)[number];

export const DAEMON_HELP = `usage: bunit daemon [OPTIONS]

Loads the units, starts the target, serves socket activation and the control socket until
SIGTERM or SIGINT, then stops every unit and exits. After \`bunit daemon-reexec\` the same
command line runs again in the same process.

  --units DIR            where unit files are (repeatable, first wins; default: $BUNIT_UNIT_PATH,
                         else /etc/bunit/units, /run/bunit/units, /usr/lib/bunit/units)
  --target NAME          the unit started at boot (default: default.target)
  --log-level LEVEL      debug, info, notice, warning or error (default: info)
  --log-target LIST      where log records go besides the ring: console, syslog,
                         console,syslog or none (default: console)
  --syslog-socket PATH   the syslog datagram socket (default: /dev/log)
  --log-ring N           records kept for \`bunit logs\` (default 10000; at most 4 MiB)
  --control PATH         the control socket (default: /run/bunit/control)
  --control-group GROUP  may start, stop, reload and reexec besides root
  --log-group GROUP      may read logs, \`status UNIT\` log lines, \`cat\` and Environment=
                         besides root (as journald's adm group)
  --notify-socket PATH   $NOTIFY_SOCKET of services (default: notify beside the control socket)
  --gadget FILE          compose this USB gadget description (.toml/.json) before units start
  --no-cgroup            no cgroup per service (process groups only)
  --watchdog DEV         feed this hardware watchdog (/dev/watchdogN) from the event loop, as
                         systemd's RuntimeWatchdogSec= does: a hung daemon gets the board reset
  --watchdog-sec N       its timeout (default 30); pinged every N/2 s
  -h, --help             this help
`;

export interface DaemonArgs {
  units: string[];
  target: string;
  logLevel: LogLevel;
  gadget?: string;
  control: string;
  controlGroup?: string;
  logGroup?: string;
  watchdog?: string;
  watchdogSec: number;
  notifySocket?: string;
  logTargets: LogTarget[];
  syslogSocket: string;
  logRing: number;
  cgroup: boolean;
}

export function parseDaemonArgs(args: string[]): DaemonArgs {
  const out: DaemonArgs = {
    units: [],
    target: "default.target",
    logLevel: "info",
    control: DEFAULT_CONTROL_PATH,
    logTargets: ["console"],
    syslogSocket: "/dev/log",
    logRing: 10_000,
    cgroup: true,
    watchdogSec: 30,
  };
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const next = () => {
      const v = args[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === "--units") out.units.push(resolve(next()));
    else if (a === "--target") out.target = next();
    else if (a === "--gadget") out.gadget = resolve(next());
    else if (a === "--control") out.control = resolve(next());
    else if (a === "--control-group") out.controlGroup = next();
    else if (a === "--log-group") out.logGroup = next();
    else if (a === "--watchdog") out.watchdog = next();
    else if (a === "--watchdog-sec") {
      const v = next();
      if (!/^[1-9]\d*$/.test(v)) throw new Error(`--watchdog-sec needs a positive number of seconds, not "${v}"`);
      out.watchdogSec = Number(v);
    } else if (a === "--notify-socket") out.notifySocket = resolve(next());
    else if (a === "--syslog-socket") out.syslogSocket = resolve(next());
    else if (a === "--no-cgroup") out.cgroup = false;
    else if (a === "--log-ring") {
      const v = next();
      if (!/^[1-9]\d*$/.test(v)) throw new Error(`--log-ring needs a positive number, not "${v}"`);
      out.logRing = Number(v);
    } else if (a === "--log-target") {
      const v = next()
        .split(",")
        .map((x) => x.trim());
      for (const t of v) if (!(LOG_TARGETS as readonly string[]).includes(t)) throw new Error(`unknown log target ${t} (console, syslog, none)`);
      out.logTargets = (v as LogTarget[]).filter((t) => t !== "none");
    } else if (a === "--log-level") {
      const l = next();
      if (!["debug", "info", "notice", "warning", "error"].includes(l)) throw new Error(`unknown log level ${l}`);
      out.logLevel = l as LogLevel;
    } else throw new Error(`unknown option ${a}`);
  }
  for (const d of out.units) {
    if (!statSync(d, { throwIfNoEntry: false })?.isDirectory()) throw new Error(`--units ${d}: no such directory`);
  }
  if (out.units.length === 0) out.units = defaultUnitPath();
  out.notifySocket ??= join(dirname(out.control), "notify");
  return out;
}

export async function runDaemon(argv: string[]): Promise<number> {
  let args: DaemonArgs;
  if (argv.includes("--help") || argv.includes("-h")) {
    process.stdout.write(DAEMON_HELP);
    return 0;
  }
  try {
    args = parseDaemonArgs(argv);
  } catch (e) {
    console.error(`bunit daemon: ${errorText(e)}`);
    return 2;
  }
  const logger = new Logger(args.logLevel);
  const ring = new LogRing(args.logRing);
  logger.addSink(ring.sink);
  if (args.logTargets.includes("console")) logger.addSink(streamSink());
  if (args.logTargets.includes("syslog")) logger.addSink(syslogSink(args.syslogSocket));

  let previous: ReexecState | null = null;
  try {
    previous = takeState();
  } catch (e) {
    logger.error(`${errorText(e)}; starting afresh`);
  }
  if (previous) for (const r of previous.logs) ring.push(r);
  const startedMs = previous?.startedMs ?? Date.now();
  // The hardware watchdog is armed first, so a daemon restarted by PID 1 re-arms it quickly.
  let hwWatchdog: HardwareWatchdog | null = null;
  if (args.watchdog) {
    try {
      hwWatchdog = new HardwareWatchdog(args.watchdog, openWatchdog(args.watchdog, n), realClock, logger);
      hwWatchdog.start(args.watchdogSec);
    } catch (e) {
      logger.error(`--watchdog ${args.watchdog}: ${errorText(e)}`);
    }
  }

  let controlGid: number | null = null;
  if (args.controlGroup !== undefined) {
    controlGid = /^\d+$/.test(args.controlGroup) ? Number(args.controlGroup) : n.getgrnam(args.controlGroup);
    if (controlGid === null) logger.error(`--control-group ${args.controlGroup}: no such group; only root may change units`);
  }
  let logGid: number | null = null;
  if (args.logGroup !== undefined) {
    logGid = /^\d+$/.test(args.logGroup) ? Number(args.logGroup) : n.getgrnam(args.logGroup);
    if (logGid === null) logger.error(`--log-group ${args.logGroup}: no such group; only root may read logs and unit files`);
  }
  try {
    n.setChildSubreaper(true);
  } catch (e) {
    logger.warning(`Cannot become child subreaper, orphaned service processes go to init: ${errorText(e)}`);
  }
  // A daemon that was SIGKILLed or OOM-killed left its services running under init: kill them
  // and remove their cgroups before any socket is opened, so ports are free and no second copy runs.
  if (args.cgroup && !previous) for (const m of cleanStaleCgroups().messages) logger.warning(m);
  const cgroups = args.cgroup ? CgroupTree.create() : null;
  if (args.cgroup && !cgroups) logger.info("No writable cgroup v2 hierarchy: tracking services by process group.");

  const watcher = n.fdWatcher();
  // systemd applies presets on a first boot (an empty configuration); not after daemon-reexec.
  if (!previous) applyFirstBoot(args.units, logger);
  // FunctionFS mounts get their descriptors from sockets; the gadget binds when all have them.
  const usbReadiness = new FunctionReadiness();
  const manager = new Manager({ unitPath: args.units, logger, host: hostFacts(), notifySocket: args.notifySocket ?? null, cgroups, watcher, usbReadiness });
  logger.info(
    previous
      ? `bunit ${process.pid} re-executed (${VERSION}), units from ${args.units.join(":")}`
      : `bunit ${process.pid} starting (${VERSION}), units from ${args.units.join(":")}`,
  );

  let notify: NotifySocket | null = null;
  const onNotify = (cred: n.Ucred, text: string, fds: number[]) => manager.notify(cred, text, fds);
  const warn = (m: string) => logger.warning(m);
  try {
    notify = previous?.notify
      ? NotifySocket.adopt(previous.notify.fd, previous.notify.path, watcher, onNotify, warn)
      : NotifySocket.bind(args.notifySocket!, watcher, onNotify, warn);
  } catch (e) {
    logger.error(`Cannot bind the notify socket ${args.notifySocket}: ${errorText(e)}; Type=notify services will time out.`);
  }

  let gadget: Gadget | undefined;
  if (args.gadget) {
    try {
      const gio = kernelGadgetIo(
        {
          debug: (m) => logger.debug(m),
          info: (m) => logger.info(m),
          warning: (m) => logger.warning(m),
          error: (m) => logger.error(m),
        },
        usbReadiness,
      );
      gadget = new Gadget(parseGadgetFile(readFileSync(args.gadget, "utf8"), args.gadget), gio);
      if (!(previous?.gadget && gadget.adopt())) gadget.compose();
    } catch (e) {
      logger.error(`${errorText(e)}`);
      gadget = undefined;
    }
  }

  let stopping = false;
  let control: ControlServer | null = null;
  const reaper = setInterval(() => {
    for (const pid of reapOrphans((p) => manager.processes.has(p))) logger.debug(`Reaped orphaned process ${pid}.`);
  }, 1000);

  let releasedEndpoints = false;
  const reexec = new Reexec({
    manager,
    logger,
    stateDir: join(dirname(args.control), "reexec"),
    stopping: () => stopping,
    extra: () => ({
      startedMs,
      control: control ? { fd: control.fd, path: control.path } : null,
      notify: notify ? { fd: notify.fd, path: notify.path } : null,
      logs: ring.query({ lines: Math.min(ring.size, 2000) }),
      gadget: gadget !== undefined,
    }),
    releaseEndpoints: () => {
      releasedEndpoints = true;
      control?.close(true);
      notify?.close(true);
    },
    restoreEndpoints: () => {
      if (!releasedEndpoints) return;
      releasedEndpoints = false;
      if (control) control = ControlServer.adopt(control.fd, control.path, watcher, handler, controlOpts);
      if (notify) notify = NotifySocket.adopt(notify.fd, notify.path, watcher, onNotify, warn);
    },
    beforeExec: () => clearInterval(reaper),
  });

  const system = new ManagerControl(manager, ring, {
    version: VERSION,
    startedMs,
    controlPath: args.control,
    controlGid,
    logGid,
    stopping: () => stopping,
    reexec: () => reexec.request(),
  });
  const handler = controlHandler(system);
  const controlOpts = { warn: (m: string) => logger.warning(m) };
  try {
    control = previous?.control
      ? ControlServer.adopt(previous.control.fd, previous.control.path, watcher, handler, controlOpts)
      : ControlServer.listen(args.control, watcher, handler, controlOpts);
  } catch (e) {
    logger.error(`Cannot open the control socket ${args.control}: ${errorText(e)}; bunit status and friends will not work.`);
  }

  const stopped = new Promise<number>((resolveStop) => {
    const onSignal = (sig: string) => {
      if (stopping) return;
      stopping = true;
      logger.info(`Received ${sig}, stopping all units.`);
      try {
        gadget?.unbind();
      } catch (e) {
        logger.error(`gadget: ${errorText(e)}`);
      }
      void manager.shutdown().then(() => {
        try {
          gadget?.teardown();
        } catch (e) {
          logger.error(`gadget: removing it failed: ${errorText(e)}`);
        }
        control?.close();
        notify?.close();
        clearInterval(reaper);
        cgroups?.removeRoot();
        hwWatchdog?.stop(true); // a clean stop disarms it (the magic close)
        logger.info("All units stopped. Exiting.");
        resolveStop(0);
      });
    };
    process.on("SIGTERM", () => onSignal("SIGTERM"));
    process.on("SIGINT", () => onSignal("SIGINT"));
  });

  if (previous) {
    for (const p of adoptState(manager, previous)) logger.warning(p);
  }
  const r = await manager.boot(args.target);
  logger.info(`Reached ${args.target} (${r}).`);
  if (gadget) {
    gadget.supervise();
    if (gadget.state !== "bound") gadget.bind().catch((e) => logger.error(errorText(e)));
  }
  return stopped;
}

/** Presets on a first boot: the configuration directory (the first unit directory) has no marker yet. */
function applyFirstBoot(units: string[], logger: Logger): void {
  try {
    const fb = firstBoot(installLayout(units));
    if (!fb) return;
    for (const w of fb.warnings) logger.warning(w);
    for (const e of fb.errors) logger.error(e);
    logger.info(`First boot: presets applied to ${units[0]} (${fb.lines.length} links).`);
  } catch (e) {
    logger.warning(`Cannot apply presets to ${units[0]}: ${errorText(e)}; enablement follows the presets without writing them.`);
  }
}
