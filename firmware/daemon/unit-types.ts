/**
 * The unit types the manager knows, as a table (systemd's unit_vtable[]): how a unit of each
 * type is checked and built. After this the manager talks to every unit through the one
 * UnitRuntime interface and never asks a unit its type.
 */
import type { Diagnostic } from "../unit/diagnostics.ts";
import type { LoadedUnit } from "../unit/unit-file.ts";
import { verifyService, verifySocket } from "../unit/unit-verify.ts";
import type { UnitRuntime } from "../runtime/unit-runtime.ts";
import { ServiceUnit, type ServiceHost } from "../service/service-unit.ts";
import { SocketUnit, type SocketHost } from "../socket/socket-unit.ts";
import { DeviceUnit } from "./device-unit.ts";
import { TargetUnit } from "./target-unit.ts";
import { BUILTIN_TARGETS } from "./unit-graph.ts";

/** What the manager offers every unit type. */
export type ManagerHost = SocketHost & ServiceHost;

export interface UnitType {
  /** Whether a unit of this name exists without a unit file (devices, built-in targets). */
  existsWithoutFile(name: string): boolean;
  /** Errors and warnings about a loaded configuration (errors refuse the unit). */
  verify(cfg: LoadedUnit): Diagnostic[];
  create(cfg: LoadedUnit, host: ManagerHost): UnitRuntime;
}

const none = (): Diagnostic[] => [];

export const UNIT_TYPES: Readonly<Record<string, UnitType>> = {
  service: { existsWithoutFile: () => false, verify: verifyService, create: (cfg, host) => new ServiceUnit(cfg, host) },
  socket: { existsWithoutFile: () => false, verify: verifySocket, create: (cfg, host) => new SocketUnit(cfg, host) },
  target: { existsWithoutFile: (name) => BUILTIN_TARGETS[name] !== undefined, verify: none, create: (cfg, host) => new TargetUnit(cfg, host) },
  device: { existsWithoutFile: () => true, verify: none, create: (cfg, host) => new DeviceUnit(cfg, host) },
};

/** The type entry for a unit type name ("service", ...), or null for types bunit does not run. */
export function unitType(type: string): UnitType | null {
  return Object.hasOwn(UNIT_TYPES, type) ? UNIT_TYPES[type]! : null;
}

/** An Accept=yes instance: a service built for one connection, which it owns from the start. */
export function createInstance(cfg: LoadedUnit, host: ManagerHost, connection: AcceptedConnectionOf<ServiceUnit>): ServiceUnit {
  return new ServiceUnit(cfg, host, connection);
}

type AcceptedConnectionOf<T> = T extends { connection: infer C } ? NonNullable<C> : never;
