#!/usr/bin/env bun
/** The bunit command line: one entry point, one module per command. */
import { runVerify } from "./commands/verify.ts";
import { isCommand } from "./control/protocol.ts";
import { VERSION } from "./version.ts";

const USAGE = `usage: bunit COMMAND [ARGS...]

commands:
  verify [--units DIR]... UNIT|FILE...   check unit files, like systemd-analyze verify
  daemon --units DIR [--gadget FILE] [...]  run the socket-activation service
  usb compile|dump|check-gadget ...      USB descriptor compiler and gadget descriptions
  vsock connect CID:PORT | listen PORT   stdin/stdout bridge over AF_VSOCK

talking to a running daemon (options: --json, --socket PATH or $BUNIT_CONTROL):
  status [UNIT...]                       the daemon, or units with their recent log lines
  list-units [--all] | list-sockets [--all]
  start|stop|restart UNIT...             run jobs and wait for them (root or the control group)
  reload                                 re-read unit files; unchanged sockets stay open
  reload UNIT...                         ExecReload= of running services
  cat UNIT... | show UNIT...             unit files with drop-ins; properties as Key=Value
  logs [UNIT] [-n N] [-f]                the daemon's log ring (service output included)
  daemon-reexec                          replace the daemon process, keeping every socket open

  --version                              print bunit's version
`;

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (cmd !== undefined && cmd !== "reload-unit" && isCommand(cmd)) {
    const { runControl } = await import("./commands/control.ts");
    return runControl(cmd, rest);
  }
  switch (cmd) {
    case "verify":
      return runVerify(rest);
    case "daemon": {
      const { runDaemon } = await import("./commands/daemon.ts");
      return runDaemon(rest);
    }
    case "usb": {
      const { runUsb } = await import("./commands/usb.ts");
      return runUsb(rest);
    }
    case "vsock": {
      const { runVsock } = await import("./commands/vsock.ts");
      return runVsock(rest);
    }
    case "--version":
    case "version":
      process.stdout.write(`bunit ${VERSION}\n`);
      return 0;
    case undefined:
    case "-h":
    case "--help":
    case "help":
      process.stdout.write(USAGE);
      return cmd === undefined ? 2 : 0;
    default:
      process.stderr.write(`bunit: unknown command "${cmd}"\n${USAGE}`);
      return 2;
  }
}

if (import.meta.main) process.exit(await main(process.argv.slice(2)));
