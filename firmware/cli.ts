#!/usr/bin/env bun
/** The bunit command line: one entry point, one module per command. */
import { runVerify } from "./commands/verify.ts";
import { isControlVerb, OTHER_HELP, USAGE } from "./control/cli-help.ts";
import { VERSION } from "./version.ts";
import { errorText } from "./core/errors.ts";

const wantsHelp = (args: readonly string[]) => args.includes("--help") || args[0] === "-h" || args[0] === "help";

/** Unit file commands (install/): they work on the files, with or without a daemon. */
const INSTALL_ONLY = ["enable", "disable", "reenable", "preset", "preset-all"];
/** `is-enabled` asks the daemon (its own search path), unless told where the files are. */
const onFiles = (args: readonly string[]) => args.some((a) => a === "--root" || a === "--units" || a.startsWith("--root=") || a.startsWith("--units="));

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (cmd !== undefined && (INSTALL_ONLY.includes(cmd) || (cmd === "is-enabled" && onFiles(rest)))) {
    const { runInstall } = await import("./commands/install.ts");
    return runInstall(cmd as Parameters<typeof runInstall>[0], rest);
  }
  if (cmd !== undefined && isControlVerb(cmd)) {
    const { runControl } = await import("./commands/control.ts");
    return runControl(cmd, rest);
  }
  // The daemon's options are its own (commands/daemon.ts answers --help); the others' help is here.
  if (cmd !== undefined && cmd in OTHER_HELP && wantsHelp(rest)) {
    process.stdout.write(OTHER_HELP[cmd]!);
    return 0;
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

/** Runs the command line; anything thrown becomes one line on stderr (no stack trace) and exit 1. */
export async function run(argv: string[]): Promise<number> {
  try {
    return await main(argv);
  } catch (e) {
    process.stderr.write(`bunit: ${errorText(e).split("\n")[0]}\n`);
    return 1;
  }
}

if (import.meta.main) void run(process.argv.slice(2)).then((c) => process.exit(c));
