/**
 * The command line's help texts (`bunit --help`, `bunit COMMAND --help`) and which options each
 * control command takes. One place, so the parser refuses exactly what the help leaves out. Pure.
 */

/** Verbs the CLI answers by talking to the daemon (some map onto one protocol command). */
export const CONTROL_VERBS = [
  "status",
  "list-units",
  "list-sockets",
  "start",
  "stop",
  "restart",
  "reload",
  "reload-or-restart",
  "reload-or-try-restart",
  "cat",
  "show",
  "logs",
  "daemon-reexec",
  "is-active",
  "is-failed",
  "is-enabled",
  "list-dependencies",
  "list-jobs",
  "clean",
  "fdstore",
] as const;
export type ControlVerb = (typeof CONTROL_VERBS)[number];

export function isControlVerb(s: string): s is ControlVerb {
  return (CONTROL_VERBS as readonly string[]).includes(s);
}

/** Options every control verb takes. */
const COMMON = ["--json", "--socket", "-h", "--help"];

/** The options of each verb, besides COMMON. */
export const VERB_OPTIONS: Record<ControlVerb, string[]> = {
  status: ["-n", "--lines"],
  "list-units": ["-a", "--all"],
  "list-dependencies": ["--type", "-t"],
  "list-jobs": [],
  clean: ["--what"],
  fdstore: [],
  "list-sockets": ["-a", "--all", "--legend", "--show-types", "--state"],
  start: ["--no-block"],
  stop: ["--no-block"],
  restart: ["--no-block"],
  reload: ["--no-block"],
  "reload-or-restart": ["--no-block"],
  "reload-or-try-restart": ["--no-block"],
  cat: [],
  show: ["-p", "--property", "-P", "--value", "-a", "--all"],
  logs: ["-n", "--lines", "-f", "--follow"],
  "daemon-reexec": [],
  "is-active": ["-q", "--quiet"],
  "is-failed": ["-q", "--quiet"],
  "is-enabled": ["-q", "--quiet"],
};

export function verbTakes(verb: ControlVerb, option: string): boolean {
  return COMMON.includes(option) || VERB_OPTIONS[verb].includes(option);
}

const COMMON_HELP = `
Options of every command that talks to the daemon:
  --socket PATH        the daemon's control socket (default: $BUNIT_CONTROL, else /run/bunit/control)
  --json               the daemon's answer as JSON, one line
  -h, --help           this help
`;

const UNITS = `UNIT arguments: a name without a type is taken as NAME.service; shell globs
('web*', 'echo@?.service', '[ab].socket') match running units and unit files.
`;

export const VERB_HELP: Record<ControlVerb, string> = {
  status: `usage: bunit status [UNIT...] [-n N]

Without units: the daemon (version, state, jobs, failed units). With units: each unit's state,
its sockets or processes, and its last log lines (those only for root and the log-reader group).
Exit status: 0 all active, 3 a unit is not active, 4 no such unit.
  -n, --lines N        log lines per unit (default 10)
${UNITS}`,
  "list-units": `usage: bunit list-units [--all]

Units the daemon runs (not inactive ones).
  -a, --all            also inactive units and every unit file
`,
  clean: `usage: bunit clean UNIT... [--what=configuration|state|cache|logs|runtime|fdstore|all]

Removes the unit's RuntimeDirectory=, StateDirectory=, CacheDirectory=, LogsDirectory= or
ConfigurationDirectory= (default: runtime and cache), as systemctl clean; refused while the unit
runs (root or the control group).
  --what KIND,...      the kinds to remove (repeatable)
${UNITS}`,
  fdstore: `usage: bunit fdstore UNIT...

The file descriptor store of each service (FileDescriptorStoreMax=), newest first, as
systemd-analyze fdstore: name, inode type, device, inode, device of a device node, path and
access mode. Fails for a unit that has no store (a socket, or a service without
FileDescriptorStoreMax=).
${UNITS}`,
  "list-jobs": `usage: bunit list-jobs

The jobs queued or running: id, unit, type (start, stop), state (waiting, running).
`,
  "list-dependencies": `usage: bunit list-dependencies [UNIT] [--type=TYPE,...]

The units UNIT (default.target when none) pulls in through Requires=, Requisite=, Wants= and
BindsTo=, as a tree; an unknown unit is listed alone.
  -t, --type TYPE,...  only units of these types (socket, service, target, ...)
`,
  "list-sockets": `usage: bunit list-sockets [PATTERN...] [--all] [--state=STATE,...] [--legend=no]

Listening addresses of active sockets and what they activate.
  PATTERN              only sockets whose unit or activated unit matches (shell globs)
  -a, --all            also sockets of inactive units
  --state STATE,...    only rows in these states (listening, running, ...); implies --all
  --legend=no          no header and no footer
  --show-types         accepted (the TYPE column is always shown)
`,
  start: `usage: bunit start UNIT... [--no-block]

Starts units and waits for their jobs (root or the control group).
Exit status: 0 done, 1 a job failed, 5 a unit could not be queued (no such unit, a template
without instance name).
  --no-block           queue the jobs and return at once
${UNITS}`,
  stop: `usage: bunit stop UNIT... [--no-block]

Stops units and waits for their jobs (root or the control group).
  --no-block           queue the jobs and return at once
${UNITS}`,
  restart: `usage: bunit restart UNIT... [--no-block]

Stops and starts units again, waiting for the jobs (root or the control group).
  --no-block           queue the jobs and return at once
${UNITS}`,
  reload: `usage: bunit reload [UNIT...] [--no-block]

Without units: re-reads every unit file (systemctl daemon-reload); sockets whose ports did not
change stay open, units whose new file has errors keep their previous configuration (exit 1).
With units: runs ExecReload= (or sends ReloadSignal=) of those running services.
  --no-block           with units: queue the reload jobs and return at once
${UNITS}`,
  "reload-or-restart": `usage: bunit reload-or-restart UNIT... [--no-block]

Reloads the units that can reload (a running service with ExecReload= or ReloadSignal=) and
restarts the others (sockets, services without a reload; inactive ones are started), as
systemctl's verb of the same name (root or the control group).
  --no-block           queue the jobs and return at once
${UNITS}`,
  "reload-or-try-restart": `usage: bunit reload-or-try-restart UNIT... [--no-block]

As reload-or-restart, but a unit that is not running (inactive, failed) is left as it is.
  --no-block           queue the jobs and return at once
${UNITS}`,
  cat: `usage: bunit cat UNIT...

The unit file and its drop-ins, each preceded by "# PATH" (root and the log-reader group:
unit files may hold Environment= secrets).
${UNITS}`,
  show: `usage: bunit show UNIT... [-p NAME[,NAME...]]... [-P NAME] [--value] [--all]

Properties as Key=Value lines, under systemd's names and in systemctl's formats. A unit that
does not exist prints LoadState=not-found (exit status 0). Environment= only for root and the
log-reader group.
  -p, --property NAMES only these properties (repeatable, comma lists); shown even when empty
  -P NAME              the value of one property (-p NAME --value)
  --value              values only, without "Key="
  -a, --all            also properties whose value is empty
${UNITS}`,
  logs: `usage: bunit logs [UNIT] [-n N] [-f]

The daemon's log ring: its own messages and every line services printed, timestamped, control
characters escaped (root and the log-reader group).
  -n, --lines N        only the last N records
  -f, --follow         then print new records as they come (a reader that falls behind loses
                       records and is told how many)
`,
  "daemon-reexec": `usage: bunit daemon-reexec

Replaces the daemon process (same pid, new image), handing over every socket, running service
and Accept=yes connection (root or the control group).
`,
  "is-active": `usage: bunit is-active UNIT... [-q]

Prints each unit's active state. Exit status: 0 one is active (or reloading), 3 none is,
4 no such unit.
  -q, --quiet          print nothing, only the exit status
${UNITS}`,
  "is-failed": `usage: bunit is-failed [UNIT...] [-q]

Prints each unit's active state. Exit status: 0 one has failed, 1 none has, 4 no such unit.
Without units: the daemon's state, exit status 0 when it is degraded (a unit failed).
  -q, --quiet          print nothing, only the exit status
${UNITS}`,
  "is-enabled": `usage: bunit is-enabled UNIT... [-q]
       bunit is-enabled UNIT... --root DIR | --units DIR [-q]   (no daemon: bunit enable --help)

Prints each unit file's state as the running daemon's unit path has it (enabled, static,
disabled, alias, masked, indirect, ...; not-found). Exit status: 0 one is enabled or static,
1 none is, 4 no unit file found.
  -q, --quiet          print nothing, only the exit status
${UNITS}`,
};

export function verbHelp(verb: ControlVerb): string {
  return VERB_HELP[verb] + COMMON_HELP;
}

/** Help of the commands that do not talk to the daemon (their parsers live in commands/). */
export const OTHER_HELP: Record<string, string> = {
  verify: `usage: bunit verify [--root DIR] [--root-map FILE] [--units DIR]... [--quiet] [--json] UNIT|FILE...

Checks unit files as systemd-analyze verify does: file:line: level: Directive=: message.
Errors make it exit 1; directives systemd knows but bunit does not implement are notices,
unknown directives warnings. The files units name (Exec*= executables except "-" ones,
EnvironmentFile=, WorkingDirectory=, USBFunctionDescriptors=/USBFunctionStrings=) must exist
on the system checked; paths under /run, /proc, /sys, /dev and /tmp are made at run time and
not checked.
  --root DIR           check against the image tree DIR, as systemd-analyze --root=: the unit
                       search path and every file a unit names are resolved inside DIR (symlinks
                       too: an absolute target starts again at DIR, ".." stops at DIR)
  --root-map FILE      an image made of host paths (TOML [paths] "/image/path" = ["host path"]);
                       units/examples/root-map.toml maps this repository as build-image lays it out
  --units DIR          where to look for units (repeatable; default: the system's unit path;
                       with --root/--root-map a directory inside the image)
  -q, --quiet          print only errors and warnings
  --json               the diagnostics as JSON
`,
  usb: `usage: bunit usb compile SPEC [--out DIR]
       bunit usb dump DESCRIPTORS [STRINGS]
       bunit usb check-gadget FILE

compile       a readable spec (.toml/.json) -> FunctionFS descriptors and strings; without
              --out a summary and the blobs in hex
  --out DIR   write DIR/descriptors.bin and DIR/strings.bin
dump          FunctionFS blobs -> the spec, as JSON
check-gadget  validates a gadget description, or a board config's [gadget]
Exit status 1 on invalid input (the error names the file and the place).
`,
  vsock: `usage: bunit vsock connect CID:PORT|unix:PATH:PORT [--timeout MS]
       bunit vsock listen [CID:]PORT
       bunit vsock host --vhost-user SOCKET --uds PATH --guest-cid N [--quiet]

connect       stdin/stdout bridge to a vsock stream service
  --timeout MS  give up connecting after MS milliseconds
listen        accept one vsock connection, print the peer to stderr, bridge it
host          the vhost-user-vsock back-end for a QEMU guest on a host without /dev/vhost-vsock
  --vhost-user SOCKET  where QEMU connects
  --uds PATH           host programs reach guest port P through PATH (CONNECT P)
  --guest-cid N        the guest's CID
  --quiet              no per-connection messages
`,
};

export const USAGE = `usage: bunit COMMAND [ARGS...]     (bunit COMMAND --help: the command's options)

commands:
  verify [--root DIR] [--units DIR]... UNIT|FILE...   check unit files, like systemd-analyze verify
  daemon [--units DIR]... [...]          run the socket-activation service (bunit daemon --help)
  usb compile|dump|check-gadget ...      USB descriptor compiler and gadget descriptions
  vsock connect|listen|host ...          stdin/stdout bridge over AF_VSOCK

talking to a running daemon (options: --json, --socket PATH or $BUNIT_CONTROL):
  status [UNIT...]                       the daemon, or units with their recent log lines
  list-units [--all] | list-sockets [PATTERN...] [--all] | list-dependencies [UNIT] [--type=T] | list-jobs
  start|stop|restart UNIT... [--no-block]  run jobs and wait for them (root or the control group)
  reload [--no-block] [UNIT...]          re-read unit files; with units: ExecReload= of services
  reload-or-restart|reload-or-try-restart UNIT...  reload what can, restart the rest
  clean UNIT... [--what=KIND]            remove a stopped unit's directories
  fdstore UNIT...                        a service's file descriptor store, as systemd-analyze fdstore
  is-active|is-failed|is-enabled UNIT... [-q]  states with systemctl's exit statuses
  enable|disable|reenable UNIT... [--now] | preset UNIT... | preset-all   enablement links
                                         (is-enabled --root DIR|--units DIR: from the files alone)
  show UNIT... [-p NAMES] [-P NAME] [--value] [--all]  properties under systemd's names
  cat UNIT...                            unit files with drop-ins (root, log-reader group)
  logs [UNIT] [-n N] [-f]                the daemon's log ring (root, log-reader group)
  daemon-reexec                          replace the daemon process, keeping every socket open

  --version                              print bunit's version
`;
