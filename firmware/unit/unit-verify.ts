/**
 * Whole-unit checks after parsing, with systemd's rules (socket_verify(), service_verify())
 * plus bunit's own. Each returns diagnostics; an error means the unit is refused. Pure.
 */
import type { Diagnostic } from "./diagnostics.ts";
import type { LoadedUnit } from "./unit-file.ts";
import { instantiate, parseUnitName, withType } from "./unit-name.ts";
import { effectiveType } from "../service/service-config.ts";
import type { ListenPort, SocketConfig } from "../socket/socket-config.ts";

/** A diagnostic about the unit; with a key, it points at the line that last set that directive. */
function at(u: LoadedUnit, message: string, level: Diagnostic["level"] = "error", key?: string, line?: number): Diagnostic {
  const where = key ? u.keyLines[key] : undefined;
  const file = where?.file ?? u.fragmentPath ?? u.name;
  const l = line ?? where?.line;
  return { level, file, message, ...(key ? { key } : {}), ...(l ? { line: l } : {}) };
}

/** A port that accept() works on: stream or seqpacket sockets (not netlink, FIFOs, ...). */
export function portAccepts(p: ListenPort): boolean {
  return p.kind === "stream" || p.kind === "seqpacket";
}

export function hasNonAcceptingPort(c: SocketConfig): boolean {
  return c.listen.some((p) => !portAccepts(p));
}

/** socket_find_symlink_target(): the one file-system node Symlinks= may point to. */
export function symlinkTarget(c: SocketConfig): string | null {
  let found: string | null = null;
  for (const p of c.listen) {
    let path: string | null = null;
    if ((p.kind === "stream" || p.kind === "datagram" || p.kind === "seqpacket") && p.address.family === "unix" && !p.address.abstract) path = p.address.path;
    else if (p.kind === "fifo") path = p.path;
    if (path) {
      if (found) return null;
      found = path;
    }
  }
  return found;
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
  if (c.symlinks.length && !symlinkTarget(c)) out.push(at(u, "Unit has symlinks set but none or more than one node in the file system. Refusing.", "error", "Symlinks"));
  if ((c.mqMaxMessages > 0) !== (c.mqMessageSize > 0) && c.listen.some((p) => p.kind === "mqueue")) {
    const set = c.mqMaxMessages > 0 ? "MessageQueueMaxMessages" : "MessageQueueMessageSize";
    const missing = c.mqMaxMessages > 0 ? "MessageQueueMessageSize" : "MessageQueueMaxMessages";
    out.push(at(u, `${set}= has no effect without ${missing}= (both or none); the queue gets the kernel's default attributes`, "warning", set));
  }
  if (c.passPIDFD && !c.listen.some((p) => "address" in p && p.address.family === "unix")) out.push(at(u, "PassPIDFD= only applies to AF_UNIX sockets", "notice", "PassPIDFD"));
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
  if (s.usbFunctionDescriptors && !s.usbFunctionStrings) out.push(at(u, "Service has USBFunctionDescriptors= setting, but no USBFunctionStrings=. Ignoring.", "warning", "USBFunctionDescriptors"));
  if (!s.usbFunctionDescriptors && s.usbFunctionStrings) out.push(at(u, "Service has USBFunctionStrings= setting, but no USBFunctionDescriptors=. Ignoring.", "warning", "USBFunctionStrings"));
  if (s.runtimeMaxUsec !== Infinity && type === "oneshot") out.push(at(u, "RuntimeMaxSec= has no effect in combination with Type=oneshot. Ignoring.", "warning", "RuntimeMaxSec"));
  return out;
}

/** The service an Accept=no socket activates, or the template of an Accept=yes socket. */
export function socketServiceName(u: LoadedUnit): string {
  const c = u.socket!;
  if (c.service) return c.service;
  const id = u.id;
  if (c.accept) return `${id.prefix}@.service`;
  return withType(u.name, "service");
}

/** An Accept=yes socket's instance service for one connection. */
export function acceptInstanceName(u: LoadedUnit, instance: string): string {
  return instantiate(socketServiceName(u), instance);
}

/**
 * Checks that a socket's service exists and suits it; load is the unit loader, checkUsb (given
 * by callers that may read files) validates FunctionFS descriptions and returns a problem.
 */
export function verifySocketService(u: LoadedUnit, load: (name: string) => LoadedUnit, checkUsb?: (descriptors: string, strings: string | undefined, service: string) => string | null): Diagnostic[] {
  const c = u.socket!;
  const name = socketServiceName(u);
  const svc = load(name);
  const out: Diagnostic[] = [];
  if (svc.loadState === "not-found") {
    // Like systemd, a missing service is not a load error: activation fails when it happens.
    out.push(at(u, `${c.accept ? "Accept=yes needs the template" : "The socket activates"} ${name}, which was not found; activation will fail`, "warning", c.service ? "Service" : undefined));
    return out;
  }
  if (svc.loadState === "masked") out.push(at(u, `${name} is masked`, "warning"));
  if (!c.accept && parseUnitName(name)?.instance === "") out.push(at(u, `${name} is a template; Accept=no needs a plain service`, "error"));
  if (svc.service) {
    const stdinSocket = svc.service.exec.standardInput?.kind === "socket" || svc.service.exec.standardOutput?.kind === "socket" || svc.service.exec.standardError?.kind === "socket";
    if (stdinSocket && !c.accept) {
      const nfds = c.listen.length + c.listen.filter((p) => p.kind === "usb-function").length;
      if (nfds !== 1) out.push(at(u, `${name} uses StandardInput=socket, which needs exactly one socket; this unit has ${c.listen.length}`, "error"));
    }
    if (c.listen.some((p) => p.kind === "usb-function")) {
      const d = svc.service.usbFunctionDescriptors;
      const spec = d !== undefined && /\.(toml|json)$/.test(d);
      if (!d || (!spec && !svc.service.usbFunctionStrings)) {
        out.push(at(u, `ListenUSBFunction= needs USBFunctionDescriptors= and USBFunctionStrings= (or a .toml/.json description) in ${name}; starting the socket will fail`, "warning", "ListenUSBFunction"));
      } else if (checkUsb) {
        const problem = checkUsb(d, svc.service.usbFunctionStrings, name);
        if (problem) out.push({ level: "error", file: svc.fragmentPath ?? name, key: "USBFunctionDescriptors", message: problem });
      }
    }
  }
  return out;
}
