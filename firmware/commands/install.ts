/**
 * `bunit enable|disable|reenable|preset|preset-all|is-enabled [OPTIONS] UNIT...`: enablement
 * symlinks in the unit configuration directory, as systemctl's unit file commands (see
 * firmware/install/). Works on the files, with or without a running daemon; after a change a
 * running daemon re-reads its units (as systemctl's implicit daemon-reload), and `--now` starts
 * (enable) or stops (disable) the units through it.
 */
import { errorText } from "../core/errors.ts";
import { DEFAULT_CONTROL_PATH, type ControlReply } from "../control/protocol.ts";
import { installLayout } from "../install/layout.ts";
import { changeEnablement, enablementStates, presetAll, type InstallResult, type InstallVerb } from "../install/operations.ts";
import type { PresetMode } from "../install/plan.ts";
import { isEnabledExitCode } from "../install/state.ts";
import { isValidUnitName } from "../unit/unit-name.ts";
import { DEFAULT_UNIT_PATH, defaultUnitPath } from "../unit/unit-path.ts";
import { converse } from "./control.ts";

export const INSTALL_VERBS = ["enable", "disable", "reenable", "preset", "preset-all", "is-enabled"] as const;
export type InstallCommand = (typeof INSTALL_VERBS)[number];

export function isInstallVerb(s: string): s is InstallCommand {
  return (INSTALL_VERBS as readonly string[]).includes(s);
}

export const INSTALL_HELP = `usage: bunit enable|disable|reenable UNIT... [--now] [--runtime] [--force]
       bunit preset UNIT... | preset-all [--preset-mode=full|enable-only|disable-only]
       bunit is-enabled UNIT... [-q]
common options: [--root DIR] [--units DIR]... [-q|--quiet] [--no-reload] [--socket PATH]

Enablement as systemctl's: enable links UNIT into the targets its [Install] section names
(WantedBy= -> TARGET.wants/, RequiredBy= -> .requires/, UpheldBy= -> .upholds/), adds its
Alias= names and enables its Also= units; a template is enabled as DefaultInstance= (or name an
instance: foo@bar.service). disable removes every link to the unit in the configuration
directory (the first unit directory: /etc/bunit/units). preset/preset-all enable or disable as
the *.preset files say (system-preset/ beside each unit directory; first match wins; no match:
enable). is-enabled prints enabled, enabled-runtime, linked, alias, masked, static, indirect,
disabled, bad or not-found (exit 0: enabled-like, 4: not found, else 1).

A configuration directory presets were never applied to (no .bunit-presets-applied) gets
preset-all first: the daemon's first start does the same.
  --root DIR           operate on an image's tree (DIR/etc/bunit/units...); no daemon is told
  --units DIR          the unit search path, as the daemon's (default: $BUNIT_UNIT_PATH or ${DEFAULT_UNIT_PATH.join(":")})
  --runtime            change the runtime directory (/run/bunit/units) instead
  --force              replace conflicting links
  --now                also start (enable) or stop (disable) the units through the daemon
  --no-reload          do not ask a running daemon to re-read its units
  --socket PATH        the daemon's control socket (default: $BUNIT_CONTROL, else ${DEFAULT_CONTROL_PATH})
  -q, --quiet          no output but errors
`;

export interface InstallArgs {
  verb: InstallCommand;
  units: string[];
  root: string;
  unitDirs: string[];
  runtime: boolean;
  force: boolean;
  now: boolean;
  reload: boolean;
  quiet: boolean;
  mode: PresetMode;
  socket: string;
  help: boolean;
}

export function parseInstallArgs(verb: InstallCommand, argv: readonly string[], env: Record<string, string | undefined> = process.env): InstallArgs {
  const out: InstallArgs = {
    verb,
    units: [],
    root: "",
    unitDirs: [],
    runtime: false,
    force: false,
    now: false,
    reload: true,
    quiet: false,
    mode: "full",
    socket: env.BUNIT_CONTROL ?? DEFAULT_CONTROL_PATH,
    help: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const [flag, inline] = a.startsWith("--") && a.includes("=") ? [a.slice(0, a.indexOf("=")), a.slice(a.indexOf("=") + 1)] : [a, undefined];
    const value = () => {
      const v = inline ?? argv[++i];
      if (v === undefined || v === "") throw new Error(`${flag} needs a value`);
      return v;
    };
    if (flag === "--root") out.root = value().replace(/\/+$/, "");
    else if (flag === "--units") out.unitDirs.push(value());
    else if (flag === "--socket") out.socket = value();
    else if (flag === "--preset-mode") {
      const m = value();
      if (m !== "full" && m !== "enable-only" && m !== "disable-only") throw new Error(`--preset-mode: full, enable-only or disable-only, not "${m}"`);
      out.mode = m;
    } else if (flag === "--runtime") out.runtime = true;
    else if (flag === "--force" || flag === "-f") out.force = true;
    else if (flag === "--now") out.now = true;
    else if (flag === "--no-reload") out.reload = false;
    else if (flag === "--quiet" || flag === "-q") out.quiet = true;
    else if (flag === "--help" || flag === "-h") out.help = true;
    else if (a.startsWith("-")) throw new Error(`unknown option ${a}`);
    else out.units.push(mangle(a));
  }
  if (out.help) return out;
  if (verb === "preset-all" && out.units.length) throw new Error("preset-all takes no units");
  if (verb !== "preset-all" && !out.units.length) throw new Error("needs at least one unit");
  if (out.now && verb !== "enable" && verb !== "disable" && verb !== "reenable") throw new Error("--now goes with enable, disable or reenable");
  if (out.now && out.root) throw new Error("--now cannot be used with --root");
  if (out.root && !out.root.startsWith("/")) out.root = `${process.cwd()}/${out.root}`;
  return out;
}

/** A name without a unit type is a service (systemctl's unit_name_mangle()): "web" -> "web.service". */
export function mangle(name: string): string {
  return isValidUnitName(name) || !isValidUnitName(`${name}.service`) ? name : `${name}.service`;
}

/** The search path the command works on, as seen inside the root. */
function searchPathOf(args: InstallArgs): string[] {
  if (args.unitDirs.length) return args.unitDirs.map((d) => (d.startsWith("/") || args.root ? d : `${process.cwd()}/${d}`));
  return args.root ? [...DEFAULT_UNIT_PATH] : defaultUnitPath();
}

/** Asks the daemon (if one listens) for one command; resolves with its error text or null. */
async function ask(socket: string, command: "reload" | "start" | "stop", units: string[]): Promise<string | null> {
  let error: string | null = null;
  await converse(socket, { command, units }, (v) => {
    const r = v as ControlReply;
    if (!r.ok) error = r.error;
  });
  return error;
}

/** Where the command writes (the process's streams; tests collect them). */
export interface InstallIo {
  out(text: string): void;
  err(text: string): void;
}

const STDIO: InstallIo = { out: (t) => process.stdout.write(t), err: (t) => process.stderr.write(t) };

function report(io: InstallIo, r: InstallResult, quiet: boolean): void {
  for (const w of r.warnings) io.err(`${w}\n`);
  if (!quiet) for (const l of r.lines) io.err(`${l}\n`);
  for (const e of r.errors) io.err(`${e}\n`);
}

export async function runInstall(verb: InstallCommand, argv: readonly string[], io: InstallIo = STDIO): Promise<number> {
  let args: InstallArgs;
  try {
    args = parseInstallArgs(verb, argv);
  } catch (e) {
    io.err(`bunit ${verb}: ${errorText(e)}\n${INSTALL_HELP}`);
    return 2;
  }
  if (args.help) {
    io.out(INSTALL_HELP);
    return 0;
  }
  try {
    const layout = installLayout(searchPathOf(args), args.root);
    if (verb === "is-enabled") {
      const states = enablementStates(layout, args.units);
      if (!args.quiet) io.out(states.map((s) => `${s}\n`).join(""));
      return isEnabledExitCode(states);
    }
    const opts = { runtime: args.runtime, force: args.force, mode: args.mode };
    const r = verb === "preset-all" ? presetAll(layout, opts) : changeEnablement(verb as Exclude<InstallVerb, "preset-all">, layout, args.units, opts);
    report(io, r, args.quiet);
    if (r.errors.length) return 1;
    if (args.root || (!args.reload && !args.now)) return 0;
    return await tellDaemon(io, args, r.lines.length > 0);
  } catch (e) {
    io.err(`bunit ${verb}: ${errorText(e)}\n`);
    return 1;
  }
}

/** daemon-reload after a change, then --now's start or stop; no daemon is fine unless --now. */
async function tellDaemon(io: InstallIo, args: InstallArgs, changed: boolean): Promise<number> {
  try {
    if (changed && args.reload) {
      const e = await ask(args.socket, "reload", []);
      if (e) io.err(`bunit ${args.verb}: daemon reload: ${e}\n`);
    }
    if (args.now) {
      const e = await ask(args.socket, args.verb === "disable" ? "stop" : "start", args.units);
      if (e) {
        io.err(`${e}\n`);
        return 1;
      }
    }
    return 0;
  } catch (e) {
    if (!args.now) return 0; // no daemon running: the links take effect at its next start
    io.err(`bunit ${args.verb} --now: ${errorText(e)}\n`);
    return 1;
  }
}
