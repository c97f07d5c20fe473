/**
 * `bunit daemon [--units DIR]... [--target NAME] [--log-level LEVEL] [--gadget FILE]`:
 * loads the units, starts the target (default.target: every enabled unit), serves socket
 * activation until SIGTERM or SIGINT, then stops everything and exits.
 *
 * With --gadget, the USB gadget described in FILE is composed in configfs before any unit
 * starts (so ListenUSBFunction= sockets find their FunctionFS mounts) and bound to the UDC once
 * every FunctionFS function has its descriptors; on stop it is unbound first, then the units
 * stop, then it is removed. A gadget that cannot be composed or bound is logged as an error;
 * the other units run regardless.
 */
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { Logger, streamSink, type LogLevel } from "../core/log.ts";
import { Manager } from "../daemon/manager.ts";
import { hostFacts } from "../unit/host-facts.ts";
import { defaultUnitPath } from "../unit/unit-path.ts";
import { Gadget } from "../usb/gadget.ts";
import { parseGadgetFile } from "../usb/gadget-config.ts";
import { kernelGadgetIo } from "../usb/gadget-kernel.ts";

export interface DaemonArgs {
  units: string[];
  target: string;
  logLevel: LogLevel;
  gadget?: string;
}

export function parseDaemonArgs(args: string[]): DaemonArgs {
  const out: DaemonArgs = { units: [], target: "default.target", logLevel: "info" };
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
    else if (a === "--log-level") {
      const l = next();
      if (!["debug", "info", "notice", "warning", "error"].includes(l)) throw new Error(`unknown log level ${l}`);
      out.logLevel = l as LogLevel;
    } else throw new Error(`unknown option ${a}`);
  }
  if (out.units.length === 0) out.units = defaultUnitPath();
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
  logger.addSink(streamSink());
  const manager = new Manager({ unitPath: args.units, logger, host: hostFacts() });
  logger.info(`bunit ${process.pid} starting, units from ${args.units.join(":")}`);
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
      gadget.compose();
    } catch (e) {
      logger.error(`${(e as Error).message}`);
      gadget = undefined;
    }
  }
  const stopped = new Promise<number>((resolveStop) => {
    let stopping = false;
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
        logger.info("All units stopped. Exiting.");
        resolveStop(0);
      });
    };
    process.on("SIGTERM", () => onSignal("SIGTERM"));
    process.on("SIGINT", () => onSignal("SIGINT"));
  });
  const r = await manager.boot(args.target);
  logger.info(`Reached ${args.target} (${r}).`);
  if (gadget) {
    gadget.supervise();
    gadget.bind().catch((e) => logger.error((e as Error).message));
  }
  return stopped;
}
