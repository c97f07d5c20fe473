/**
 * `bunit daemon [--units DIR]... [--target NAME] [--log-level LEVEL] [--gadget FILE]
 *               [--control PATH] [--control-group GROUP] [--notify-socket PATH]
 *               [--log-target console|syslog|console,syslog|none] [--syslog-socket PATH]
 *               [--log-ring N] [--no-cgroup]`:
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
 * previous process's state (see daemon/reexec.ts).
 */
import { readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import * as n from "../native.ts";
import { Logger, streamSink, type LogLevel } from "../core/log.ts";
import { LogRing } from "../core/log-ring.ts";
import { syslogSink } from "../core/syslog.ts";
import { controlHandler } from "../control/handlers.ts";
import { DEFAULT_CONTROL_PATH } from "../control/protocol.ts";
import { ControlServer } from "../control/server.ts";
import { ManagerControl } from "../daemon/controlled-system.ts";
import { Manager } from "../daemon/manager.ts";
import { NotifySocket } from "../daemon/notify-socket.ts";
import { reapOrphans } from "../daemon/reaper.ts";
import { adoptState, collectState, execSelf, reexecBlocker, takeState, type ReexecState } from "../daemon/reexec.ts";
import { CgroupTree } from "../service/cgroup.ts";
import { hostFacts } from "../unit/host-facts.ts";
import { defaultUnitPath } from "../unit/unit-path.ts";
import { Gadget } from "../usb/gadget.ts";
import { parseGadgetFile } from "../usb/gadget-config.ts";
import { kernelGadgetIo } from "../usb/gadget-kernel.ts";
import { VERSION } from "../version.ts";

const LOG_TARGETS = ["console", "syslog", "none"] as const;
/** How long daemon-reexec waits for running jobs and transitions to end. */
const REEXEC_SETTLE_MS = 30_000;
type LogTarget = (typeof LOG_TARGETS)[number];

export interface DaemonArgs {
  units: string[];
  target: string;
  logLevel: LogLevel;
  gadget?: string;
  control: string;
  controlGroup?: string;
  notifySocket?: string;
  logTargets: LogTarget[];
  syslogSocket: string;
  logRing: number;
  cgroup: boolean;
}

export function parseDaemonArgs(args: string[]): DaemonArgs {
  const out: DaemonArgs = {
    units: [], target: "default.target", logLevel: "info", control: DEFAULT_CONTROL_PATH,
    logTargets: ["console"], syslogSocket: "/dev/log", logRing: 10_000, cgroup: true,
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
    else if (a === "--notify-socket") out.notifySocket = resolve(next());
    else if (a === "--syslog-socket") out.syslogSocket = resolve(next());
    else if (a === "--no-cgroup") out.cgroup = false;
    else if (a === "--log-ring") {
      const v = next();
      if (!/^[1-9]\d*$/.test(v)) throw new Error(`--log-ring needs a positive number, not "${v}"`);
      out.logRing = Number(v);
    } else if (a === "--log-target") {
      const v = next().split(",").map((x) => x.trim());
      for (const t of v) if (!(LOG_TARGETS as readonly string[]).includes(t)) throw new Error(`unknown log target ${t} (console, syslog, none)`);
      out.logTargets = (v as LogTarget[]).filter((t) => t !== "none");
    } else if (a === "--log-level") {
      const l = next();
      if (!["debug", "info", "notice", "warning", "error"].includes(l)) throw new Error(`unknown log level ${l}`);
      out.logLevel = l as LogLevel;
    } else throw new Error(`unknown option ${a}`);
  }
  if (out.units.length === 0) out.units = defaultUnitPath();
  out.notifySocket ??= join(dirname(out.control), "notify");
  return out;
}

export async function runDaemon(argv: string[]): Promise<number> {
  let args: DaemonArgs;
  try {
    args = parseDaemonArgs(argv);
  } catch (e) {
    console.error(`bunit daemon: ${(e as Error).message}`);
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
    logger.error(`${(e as Error).message}; starting afresh`);
  }
  if (previous) for (const r of previous.logs) ring.push(r);
  const startedMs = previous?.startedMs ?? Date.now();

  let controlGid: number | null = null;
  if (args.controlGroup !== undefined) {
    controlGid = /^\d+$/.test(args.controlGroup) ? Number(args.controlGroup) : n.getgrnam(args.controlGroup);
    if (controlGid === null) logger.error(`--control-group ${args.controlGroup}: no such group; only root may change units`);
  }
  try {
    n.setChildSubreaper(true);
  } catch (e) {
    logger.warning(`Cannot become child subreaper, orphaned service processes go to init: ${(e as Error).message}`);
  }
  const cgroups = args.cgroup ? CgroupTree.create() : null;
  if (args.cgroup && !cgroups) logger.info("No writable cgroup v2 hierarchy: tracking services by process group.");

  const watcher = n.fdWatcher();
  const manager = new Manager({ unitPath: args.units, logger, host: hostFacts(), notifySocket: args.notifySocket ?? null, cgroups });
  logger.info(previous ? `bunit ${process.pid} re-executed (${VERSION}), units from ${args.units.join(":")}` : `bunit ${process.pid} starting (${VERSION}), units from ${args.units.join(":")}`);

  let notify: NotifySocket | null = null;
  const onNotify = (cred: n.Ucred, text: string, fds: number[]) => manager.notify(cred, text, fds);
  const warn = (m: string) => logger.warning(m);
  try {
    notify = previous?.notify
      ? NotifySocket.adopt(previous.notify.fd, previous.notify.path, watcher, onNotify, warn)
      : NotifySocket.bind(args.notifySocket!, watcher, onNotify, warn);
  } catch (e) {
    logger.error(`Cannot bind the notify socket ${args.notifySocket}: ${(e as Error).message}; Type=notify services will time out.`);
  }

  let gadget: Gadget | undefined;
  if (args.gadget) {
    try {
      const gio = kernelGadgetIo({
        debug: (m) => logger.debug(m),
        info: (m) => logger.info(m),
        warning: (m) => logger.warning(m),
        error: (m) => logger.error(m),
      });
      gadget = new Gadget(parseGadgetFile(readFileSync(args.gadget, "utf8"), args.gadget), gio);
      if (!(previous?.gadget && gadget.adopt())) gadget.compose();
    } catch (e) {
      logger.error(`${(e as Error).message}`);
      gadget = undefined;
    }
  }

  let stopping = false;
  let control: ControlServer | null = null;
  const reaper = setInterval(() => {
    for (const pid of reapOrphans()) logger.debug(`Reaped orphaned process ${pid}.`);
  }, 1000);

  let reexecPending = false;
  const reexec = async (): Promise<string | null> => {
    if (stopping) return "the daemon is stopping";
    if (reexecPending) return "a daemon-reexec is already under way";
    reexecPending = true;
    // New connections wait in the kernel while running jobs finish, so that every unit is
    // settled (Accept=yes instances running or gone) when the state is taken.
    manager.holdActivation(true);
    const deadline = Date.now() + REEXEC_SETTLE_MS;
    const settled = async (): Promise<string | null> => {
      let blocker = reexecBlocker(manager);
      while (blocker && Date.now() < deadline && !stopping) {
        await Bun.sleep(10);
        blocker = reexecBlocker(manager);
      }
      return stopping ? "the daemon is stopping" : blocker && `${blocker} (waited ${REEXEC_SETTLE_MS / 1000} s)`;
    };
    const giveUp = (why: string) => {
      reexecPending = false;
      manager.holdActivation(false);
      return why;
    };
    const blocker = await settled();
    if (blocker) return giveUp(blocker);
    logger.info("Re-executing the daemon (daemon-reexec); listening sockets stay open.");
    // Answer the client first, then exec. Nothing new starts meanwhile (sockets are held),
    // but a process may end: the state is taken only in a settled moment.
    setTimeout(async () => {
      const late = await settled();
      if (late) return logger.warning(`daemon-reexec abandoned: ${giveUp(late)}`);
      clearInterval(reaper);
      control?.close(true);
      notify?.close(true);
      const state = collectState(manager, {
        startedMs,
        control: control ? { fd: control.fd, path: control.path } : null,
        notify: notify ? { fd: notify.fd, path: notify.path } : null,
        logs: ring.query({ lines: Math.min(ring.size, 2000) }),
        gadget: gadget !== undefined,
      });
      const err = execSelf(state, join(dirname(args.control), "reexec-state.json"));
      logger.error(`daemon-reexec failed: ${err}; continuing in the old process`);
      if (control) control = ControlServer.adopt(control.fd, control.path, watcher, handler);
      if (notify) notify = NotifySocket.adopt(notify.fd, notify.path, watcher, onNotify, warn);
      giveUp(err);
    }, 20);
    return null;
  };

  const system = new ManagerControl(manager, ring, {
    version: VERSION, startedMs, controlPath: args.control, controlGid, stopping: () => stopping, reexec,
  });
  const handler = controlHandler(system);
  try {
    control = previous?.control ? ControlServer.adopt(previous.control.fd, previous.control.path, watcher, handler) : ControlServer.listen(args.control, watcher, handler);
  } catch (e) {
    logger.error(`Cannot open the control socket ${args.control}: ${(e as Error).message}; bunit status and friends will not work.`);
  }

  const stopped = new Promise<number>((resolveStop) => {
    const onSignal = (sig: string) => {
      if (stopping) return;
      stopping = true;
      logger.info(`Received ${sig}, stopping all units.`);
      try {
        gadget?.unbind();
      } catch (e) {
        logger.error(`gadget: ${(e as Error).message}`);
      }
      void manager.shutdown().then(() => {
        try {
          gadget?.teardown();
        } catch (e) {
          logger.error(`gadget: removing it failed: ${(e as Error).message}`);
        }
        control?.close();
        notify?.close();
        clearInterval(reaper);
        cgroups?.removeRoot();
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
    if (gadget.state !== "bound") gadget.bind().catch((e) => logger.error((e as Error).message));
  }
  return stopped;
}
