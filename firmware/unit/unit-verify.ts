/**
 * Whole-unit checks after parsing, with systemd's rules (socket_verify(), service_verify())
 * plus bunit's own. Each returns diagnostics; an error means the unit is refused. Pure.
 */
import type { Diagnostic } from "./diagnostics.ts";
import type { LoadedUnit } from "./unit-file.ts";
import { parseUnitName } from "./unit-name.ts";
import { hasNonAcceptingPort, portAccepts, socketServiceName, symlinkTarget } from "./socket-relations.ts";
import { effectiveType } from "./service-config.ts";
import type { ExecCommand } from "./exec-command.ts";

/** A diagnostic about the unit; with a key, it points at the line that last set that directive. */
function at(u: LoadedUnit, message: string, level: Diagnostic["level"] = "error", key?: string, line?: number): Diagnostic {
  const where = key ? u.keyLines[key] : undefined;
  const file = where?.file ?? u.fragmentPath ?? u.name;
  const l = line ?? where?.line;
  return { level, file, message, ...(key ? { key } : {}), ...(l ? { line: l } : {}) };
}

export function verifySocket(u: LoadedUnit): Diagnostic[] {
  const c = u.socket!;
  const out: Diagnostic[] = [];
  if (c.listen.length === 0) out.push(at(u, "Unit has no Listen setting (ListenStream=, ListenDatagram=, ListenFIFO=, ...). Refusing."));
  if (c.accept && hasNonAcceptingPort(c)) {
    const bad = c.listen.find((p) => !portAccepts(p))!;
    out.push(at(u, `Unit configured for accepting sockets, but sockets are non-accepting (${bad.text}). Refusing.`, "error", "Accept"));
  }
  if (c.maxConnections <= 0) out.push(at(u, "MaxConnections= setting too small. Refusing.", "error", "MaxConnections"));
  if (c.accept && c.service) out.push(at(u, "Explicit service configuration for accepting socket units not supported. Refusing.", "error", "Service"));
  if (c.accept && c.deferTrigger !== "no") out.push(at(u, "DeferTrigger= is not supported for Accept=yes sockets. Refusing.", "error", "DeferTrigger"));
  if (c.symlinks.length && !symlinkTarget(c))
    out.push(at(u, "Unit has symlinks set but none or more than one node in the file system. Refusing.", "error", "Symlinks"));
  if (c.mqMaxMessages > 0 !== c.mqMessageSize > 0 && c.listen.some((p) => p.kind === "mqueue")) {
    const set = c.mqMaxMessages > 0 ? "MessageQueueMaxMessages" : "MessageQueueMessageSize";
    const missing = c.mqMaxMessages > 0 ? "MessageQueueMessageSize" : "MessageQueueMaxMessages";
    out.push(at(u, `${set}= has no effect without ${missing}= (both or none); the queue gets the kernel's default attributes`, "warning", set));
  }
  if (c.passPIDFD && !c.listen.some((p) => "address" in p && p.address.family === "unix"))
    out.push(at(u, "PassPIDFD= only applies to AF_UNIX sockets", "notice", "PassPIDFD"));
  return out;
}

export function verifyService(u: LoadedUnit): Diagnostic[] {
  const s = u.service!;
  const out: Diagnostic[] = [];
  const type = effectiveType(s);
  if (s.execStart.length === 0 && s.execStop.length === 0 && !u.unit.successAction) {
    out.push(at(u, "Service has no ExecStart=, ExecStop=, or SuccessAction=. Refusing."));
  }
  if (type !== "oneshot" && s.execStart.length === 0 && (s.execStop.length || u.unit.successAction)) {
    out.push(at(u, "Service has no ExecStart= setting, which is only allowed for Type=oneshot services. Refusing."));
  }
  if (type !== "oneshot" && s.execStart.length > 1) {
    out.push(at(u, "Service has more than one ExecStart= setting, which is only allowed for Type=oneshot services. Refusing.", "error", "ExecStart"));
  }
  if (type === "oneshot" && (s.restart === "always" || s.restart === "on-success")) {
    out.push(at(u, "Service has Restart= set to either always or on-success, which isn't allowed for Type=oneshot services. Refusing.", "error", "Restart"));
  }
  if (type === "dbus" && !s.busName) out.push(at(u, "Service is of type D-Bus but no D-Bus service name has been specified. Refusing.", "error", "Type"));
  if (type === "dbus") out.push(at(u, "Type=dbus: bunit has no D-Bus; the service is treated as Type=simple", "notice", "Type"));
  if (s.usbFunctionDescriptors && !s.usbFunctionStrings && !isUsbSpec(s.usbFunctionDescriptors))
    out.push(at(u, "Service has USBFunctionDescriptors= setting, but no USBFunctionStrings=. Ignoring.", "warning", "USBFunctionDescriptors"));
  if (!s.usbFunctionDescriptors && s.usbFunctionStrings)
    out.push(at(u, "Service has USBFunctionStrings= setting, but no USBFunctionDescriptors=. Ignoring.", "warning", "USBFunctionStrings"));
  if (s.runtimeMaxUsec !== Infinity && type === "oneshot")
    out.push(at(u, "RuntimeMaxSec= has no effect in combination with Type=oneshot. Ignoring.", "warning", "RuntimeMaxSec"));
  return out;
}

/** A readable FunctionFS description (bunit compiles it; no USBFunctionStrings= needed). */
const isUsbSpec = (path: string) => /\.(toml|json)$/.test(path);

/** A problem with a file a directive names: the directive, and what is wrong. */
export interface FileProblem {
  key: string;
  message: string;
}

/**
 * Checks that a socket's service exists and suits it; load is the unit loader, checkUsb (given
 * by callers that may read files) validates FunctionFS descriptions and returns a problem.
 */
export function verifySocketService(
  u: LoadedUnit,
  load: (name: string) => LoadedUnit,
  checkUsb?: (descriptors: string, strings: string | undefined, service: string) => FileProblem | null,
): Diagnostic[] {
  const c = u.socket!;
  const name = socketServiceName(u);
  const svc = load(name);
  const out: Diagnostic[] = [];
  if (svc.loadState === "not-found") {
    // Like systemd, a missing service is not a load error: activation fails when it happens.
    out.push(
      at(
        u,
        `${c.accept ? "Accept=yes needs the template" : "The socket activates"} ${name}, which was not found; activation will fail`,
        "warning",
        c.service ? "Service" : undefined,
      ),
    );
    return out;
  }
  if (svc.loadState === "masked") out.push(at(u, `${name} is masked`, "warning"));
  if (!c.accept && parseUnitName(name)?.instance === "") out.push(at(u, `${name} is a template; Accept=no needs a plain service`, "error"));
  if (svc.service) {
    const stdinSocket =
      svc.service.exec.standardInput?.kind === "socket" ||
      svc.service.exec.standardOutput?.kind === "socket" ||
      svc.service.exec.standardError?.kind === "socket";
    if (stdinSocket && !c.accept) {
      const nfds = c.listen.length + c.listen.filter((p) => p.kind === "usb-function").length;
      if (nfds !== 1) out.push(at(u, `${name} uses StandardInput=socket, which needs exactly one socket; this unit has ${c.listen.length}`, "error"));
    }
    if (c.listen.some((p) => p.kind === "usb-function")) {
      const d = svc.service.usbFunctionDescriptors;
      const spec = d !== undefined && isUsbSpec(d);
      if (!d || (!spec && !svc.service.usbFunctionStrings)) {
        out.push(
          at(
            u,
            `ListenUSBFunction= needs USBFunctionDescriptors= and USBFunctionStrings= (or a .toml/.json description) in ${name}; starting the socket will fail`,
            "warning",
            "ListenUSBFunction",
          ),
        );
      } else if (checkUsb) {
        const problem = checkUsb(d, svc.service.usbFunctionStrings, name);
        if (problem) out.push(at(svc, problem.message, "error", problem.key));
      }
    }
  }
  return out;
}

/**
 * What verifyReferences asks about the files of the system the unit runs on (the host, or an
 * image under --root): null when the path is fine, otherwise why not ("No such file or
 * directory", as systemd-analyze words it).
 */
export interface ReferenceProbe {
  executable(command: string): string | null;
  file(path: string, kind: "file" | "directory"): string | null;
}

/** The file and line of the assignment of key whose value mentions text (a directive may be given many times). */
export type LineFinder = (key: string, text: string) => { file: string; line: number } | undefined;

/** File systems made at run time: what a unit names there does not exist in an image. */
const RUNTIME_TREES = ["/run/", "/proc/", "/sys/", "/dev/", "/tmp/", "/var/run/"];
const atRunTime = (p: string) => RUNTIME_TREES.some((t) => p.startsWith(t));

const SERVICE_EXEC = [
  ["ExecCondition", "execCondition"],
  ["ExecStartPre", "execStartPre"],
  ["ExecStart", "execStart"],
  ["ExecStartPost", "execStartPost"],
  ["ExecReload", "execReload"],
  ["ExecStop", "execStop"],
  ["ExecStopPost", "execStopPost"],
] as const;
const SOCKET_EXEC = [
  ["ExecStartPre", "execStartPre"],
  ["ExecStartPost", "execStartPost"],
  ["ExecStopPre", "execStopPre"],
  ["ExecStopPost", "execStopPost"],
] as const;

/**
 * The files a unit names, checked as systemd-analyze verify checks executables (verify_executable():
 * not for "-" commands) and, beyond it, the files a start would fail without: non-optional
 * EnvironmentFile= and WorkingDirectory=, USBFunctionDescriptors=/USBFunctionStrings=. Each
 * problem is an error at the line that names the file.
 */
export function verifyReferences(u: LoadedUnit, probe: ReferenceProbe, lineOf?: LineFinder): Diagnostic[] {
  const out: Diagnostic[] = [];
  const problem = (key: string, text: string, message: string) => {
    const where = lineOf?.(key, text);
    out.push(where ? { level: "error", file: where.file, line: where.line, key, message } : at(u, message, "error", key));
  };
  const commands: [string, ExecCommand[]][] = [];
  if (u.service) for (const [key, field] of SERVICE_EXEC) commands.push([key, u.service[field]]);
  if (u.socket) for (const [key, field] of SOCKET_EXEC) commands.push([key, u.socket[field]]);
  for (const [key, list] of commands) {
    for (const c of list) {
      if (c.ignoreFailure || c.viaShell || atRunTime(c.path)) continue;
      const why = probe.executable(c.path);
      if (why) problem(key, c.path, `Command ${c.path} is not executable: ${why}`);
    }
  }
  const exec = u.service?.exec ?? u.socket?.exec;
  for (const f of exec?.environmentFiles ?? []) {
    if (f.optional || atRunTime(f.path)) continue;
    const why = probe.file(f.path, "file");
    if (why) problem("EnvironmentFile", f.path, `${f.path}: ${why}`);
  }
  const wd = exec?.workingDirectory;
  if (wd && !wd.optional && !wd.home && !atRunTime(wd.path)) {
    const why = probe.file(wd.path, "directory");
    if (why) problem("WorkingDirectory", wd.path, `${wd.path}: ${why}`);
  }
  for (const key of ["USBFunctionDescriptors", "USBFunctionStrings"] as const) {
    const path = key === "USBFunctionDescriptors" ? u.service?.usbFunctionDescriptors : u.service?.usbFunctionStrings;
    if (path === undefined || atRunTime(path)) continue;
    const why = probe.file(path, "file");
    if (why) problem(key, path, `${path}: ${why}`);
  }
  return out;
}
