/**
 * daemon-reexec: the daemon replaces its own process image (execve, same pid) with a fresh
 * one, handing over every open listening fd (FunctionFS ep0 and endpoint files included), the
 * control and notify sockets, the services' output pipes and fd stores. The kernel keeps
 * queueing connections on the listening sockets meanwhile, so none is refused; services stay
 * children of the same pid and are adopted by the new process, Accept=yes instances with their
 * connections (they count against MaxConnections= again).
 */
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import * as n from "../native.ts";
import type { LogRecord } from "../core/log.ts";
import { ServiceUnit, type ServiceSnapshot } from "../service/service-unit.ts";
import { SocketUnit, type SavedConnection } from "../socket/socket-unit.ts";
import type { OpenedPort } from "../socket/socket-open.ts";
import type { Manager } from "./manager.ts";

export const STATE_ENV = "BUNIT_REEXEC_STATE";

type SerializedPort = Omit<OpenedPort, "port"> & { text: string; kind: string };

export interface ReexecState {
  version: 2;
  startedMs: number;
  control: { fd: number; path: string } | null;
  notify: { fd: number; path: string } | null;
  sockets: { unit: string; running: boolean; ports: SerializedPort[]; accepted: number; refused: number }[];
  services: ServiceSnapshot[];
  /** Accept=yes instances that were running: their connection and their process. */
  instances: { connection: SavedConnection; service: ServiceSnapshot }[];
  /** Units waiting for their automatic restart: started again by the new process. */
  restart: string[];
  logs: LogRecord[];
  gadget: boolean;
}

/** Why the daemon cannot be replaced now, or null. */
export function reexecBlocker(m: Manager): string | null {
  if (m.jobs.size > 0) return `${m.jobs.size} jobs are running; try again when they are done`;
  for (const u of m.loadedUnits()) {
    const a = u.activeState();
    if (u instanceof ServiceUnit && u.subState() === "auto-restart") continue;
    if (a === "activating" || a === "deactivating" || a === "reloading") return `${u.name} is ${a}; try again when it settled`;
  }
  return null;
}

export function collectState(m: Manager, extra: Pick<ReexecState, "startedMs" | "control" | "notify" | "logs" | "gadget">): ReexecState {
  const sockets: ReexecState["sockets"] = [];
  const services: ServiceSnapshot[] = [];
  const instances: ReexecState["instances"] = [];
  const restart: string[] = [];
  for (const u of m.loadedUnits()) {
    if (u instanceof SocketUnit && u.ports.length && u.activeState() === "active") {
      sockets.push({
        unit: u.name,
        running: u.subState() === "running",
        ports: u.ports.map(({ port, ...rest }) => ({ ...rest, text: port.text, kind: port.kind })),
        accepted: u.connections.nAccepted,
        refused: u.connections.nRefused,
      });
    } else if (u instanceof ServiceUnit && u.connection) {
      const { release: _, ...connection } = u.connection;
      if (u.activeState() === "active") instances.push({ connection, service: u.snapshot() });
    } else if (u instanceof ServiceUnit) {
      if (u.subState() === "auto-restart") restart.push(u.name);
      else if (u.activeState() === "active" || u.fdStore.size) services.push(u.snapshot());
    }
  }
  return { version: 2, ...extra, sockets, services, instances, restart };
}

/** Every fd the new process must inherit. */
export function stateFds(s: ReexecState): number[] {
  const fds: number[] = [];
  if (s.control) fds.push(s.control.fd);
  if (s.notify) fds.push(s.notify.fd);
  for (const k of s.sockets) for (const p of k.ports) fds.push(p.fd, ...p.aux);
  for (const i of s.instances) fds.push(i.connection.fd);
  for (const v of [...s.services, ...s.instances.map((i) => i.service)]) {
    for (const e of v.fdStore) fds.push(e.fd);
    if (v.logFds.stdout !== undefined) fds.push(v.logFds.stdout);
    if (v.logFds.stderr !== undefined) fds.push(v.logFds.stderr);
  }
  return fds;
}

/**
 * Writes the state, clears FD_CLOEXEC on the handed-over fds and execs the same command line.
 * Returns (with an error) only when execve() failed; the fds are then made close-on-exec again.
 */
export function execSelf(state: ReexecState, statePath: string, argv: string[] = [process.execPath, ...process.argv.slice(1)]): string {
  const fds = stateFds(state);
  writeFileSync(statePath, JSON.stringify(state), { mode: 0o600 });
  for (const fd of fds) n.setCloexec(fd, false);
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined) env[k] = v;
  env[STATE_ENV] = statePath;
  try {
    n.execve(argv[0]!, argv, env);
  } catch (e) {
    for (const fd of fds) n.setCloexec(fd, true);
    rmSync(statePath, { force: true });
    return `execve ${argv[0]}: ${(e as Error).message}`;
  }
  return "execve returned";
}

/** Reads (and removes) the state a previous process left; null when there is none. */
export function takeState(env: Record<string, string | undefined> = process.env): ReexecState | null {
  const path = env[STATE_ENV];
  if (!path) return null;
  delete process.env[STATE_ENV];
  try {
    const s = JSON.parse(readFileSync(path, "utf8")) as ReexecState;
    rmSync(path, { force: true });
    if (s.version !== 2) throw new Error(`unknown state version ${String(s.version)}`);
    for (const fd of stateFds(s)) n.setCloexec(fd, true);
    return s;
  } catch (e) {
    throw new Error(`daemon-reexec state ${path}: ${(e as Error).message}`);
  }
}

/** Gives the new manager what the old process ran; returns problems (unit by unit) for the log. */
export function adoptState(m: Manager, s: ReexecState): string[] {
  const problems: string[] = [];
  for (const k of s.sockets) {
    const u = m.unit(k.unit);
    if (!(u instanceof SocketUnit)) {
      problems.push(`${k.unit}: not a loadable socket any more; closing its ${k.ports.length} ports`);
      for (const p of k.ports) for (const fd of [p.fd, ...p.aux]) n.close(fd);
      continue;
    }
    const ports: OpenedPort[] = [];
    for (const sp of k.ports) {
      const port = u.cfg.listen.find((l) => l.kind === sp.kind && l.text === sp.text);
      const { text, kind, ...rest } = sp;
      if (!port) {
        problems.push(`${k.unit}: ${kind} ${text} is no longer configured; closing it`);
        for (const fd of [sp.fd, ...sp.aux]) n.close(fd);
        continue;
      }
      ports.push({ ...rest, port });
    }
    u.adopt(ports, k.running, { accepted: k.accepted, refused: k.refused });
  }
  for (const v of s.services) {
    const u = m.unit(v.unit);
    if (!(u instanceof ServiceUnit)) {
      problems.push(`${v.unit}: not a loadable service any more; its processes run on unsupervised`);
      continue;
    }
    u.adopt(v);
  }
  for (const i of s.instances) {
    const sock = m.unit(i.connection.socket);
    if (!(sock instanceof SocketUnit)) {
      problems.push(`${i.service.unit}: ${i.connection.socket} is not a loadable socket any more; the instance runs on unsupervised`);
      n.close(i.connection.fd);
      continue;
    }
    const conn = sock.adoptConnection(i.connection);
    if (!m.adoptAcceptedInstance(i.service.unit, conn, i.service)) {
      problems.push(`${i.service.unit}: its template cannot be loaded any more; the instance runs on unsupervised`);
      conn.release();
    }
  }
  for (const r of s.restart) void m.enqueue(r, "start", "automatic restart (carried over daemon-reexec)");
  return problems;
}
