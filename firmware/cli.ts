#!/usr/bin/env bun
/** The bunit command line: one entry point, one module per command. */
import { runVerify } from "./commands/verify.ts";

const USAGE = `usage: bunit COMMAND [ARGS...]

commands:
  verify [--units DIR]... UNIT|FILE...   check unit files, like systemd-analyze verify
  daemon --units DIR [--gadget FILE] [...]  run the socket-activation service
  usb compile|dump|check-gadget ...      USB descriptor compiler and gadget descriptions
  vsock connect CID:PORT | listen PORT   stdin/stdout bridge over AF_VSOCK
`;

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
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
