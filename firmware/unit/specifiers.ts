/**
 * Specifier expansion in unit files (systemd.unit(5), "Specifiers"). Pure: every value
 * comes from a SpecifierContext, which firmware/unit/host-facts.ts fills from the machine.
 */
import { parseUnitName, unescapeUnitString } from "./unit-name.ts";

export interface HostFacts {
  architecture: string; // %a
  bootId: string; // %b
  machineId: string; // %m
  hostname: string; // %H
  prettyHostname: string; // %q
  kernelRelease: string; // %v
  osRelease: Record<string, string>; // %o %w %W %B %M %A
  user: { name: string; uid: number; gid: number; group: string; home: string; shell: string }; // %u %U %g %G %h %s
  runtimeDir: string; // %t
  stateDir: string; // %S
  cacheDir: string; // %C
  logsDir: string; // %L
  configDir: string; // %E
  tmpDir: string; // %T
  varTmpDir: string; // %V
  credentialsDir?: string; // %d
}

export interface SpecifierContext {
  unit: string; // %n
  fragmentPath?: string; // %y
  host: HostFacts;
}

export class SpecifierError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SpecifierError";
  }
}

function dirname(p: string): string {
  const i = p.lastIndexOf("/");
  return i <= 0 ? "/" : p.slice(0, i);
}

/** The value of one specifier letter, or undefined when the letter is not a specifier. */
export function specifierValue(letter: string, ctx: SpecifierContext): string | undefined {
  const u = parseUnitName(ctx.unit);
  const h = ctx.host;
  const prefix = u ? u.prefix : ctx.unit;
  const instance = u?.instance ?? "";
  switch (letter) {
    case "%":
      return "%";
    case "a":
      return h.architecture;
    case "A":
      return h.osRelease.IMAGE_VERSION ?? "";
    case "b":
      return h.bootId;
    case "B":
      return h.osRelease.BUILD_ID ?? "";
    case "C":
      return h.cacheDir;
    case "d":
      return h.credentialsDir ?? `${h.runtimeDir}/credentials/${ctx.unit}`;
    case "D":
      return "/usr/share";
    case "E":
      return h.configDir;
    case "f": {
      const v = u && u.instance ? unescapeUnitString(u.instance) : unescapeUnitString(prefix);
      return v.startsWith("/") ? v : "/" + v;
    }
    case "g":
      return h.user.group;
    case "G":
      return String(h.user.gid);
    case "h":
      return h.user.home;
    case "H":
      return h.hostname;
    case "i":
      return instance;
    case "I":
      return unescapeUnitString(instance);
    case "j": {
      const dash = prefix.lastIndexOf("-");
      return dash >= 0 ? prefix.slice(dash + 1) : prefix;
    }
    case "J": {
      const dash = prefix.lastIndexOf("-");
      return unescapeUnitString(dash >= 0 ? prefix.slice(dash + 1) : prefix);
    }
    case "l":
      return h.hostname.split(".")[0] ?? h.hostname;
    case "L":
      return h.logsDir;
    case "m":
      return h.machineId;
    case "M":
      return h.osRelease.IMAGE_ID ?? "";
    case "n":
      return ctx.unit;
    case "N":
      return u ? ctx.unit.slice(0, ctx.unit.lastIndexOf(".")) : ctx.unit;
    case "o":
      return h.osRelease.ID ?? "";
    case "p":
      return prefix;
    case "P":
      return unescapeUnitString(prefix);
    case "q":
      return h.prettyHostname || h.hostname;
    case "s":
      return h.user.shell;
    case "S":
      return h.stateDir;
    case "t":
      return h.runtimeDir;
    case "T":
      return h.tmpDir;
    case "u":
      return h.user.name;
    case "U":
      return String(h.user.uid);
    case "v":
      return h.kernelRelease;
    case "V":
      return h.varTmpDir;
    case "w":
      return h.osRelease.VERSION_ID ?? "";
    case "W":
      return h.osRelease.VARIANT_ID ?? "";
    case "y":
      return ctx.fragmentPath ?? "";
    case "Y":
      return ctx.fragmentPath ? dirname(ctx.fragmentPath) : "";
    default:
      return undefined;
  }
}

/** Expands every %X in s; throws SpecifierError on an unknown or incomplete specifier. */
export function expandSpecifiers(s: string, ctx: SpecifierContext): string {
  if (!s.includes("%")) return s;
  let out = "";
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c !== "%") {
      out += c;
      continue;
    }
    const letter = s[i + 1];
    if (letter === undefined) throw new SpecifierError(`incomplete specifier at the end of "${s}"`);
    const v = specifierValue(letter, ctx);
    if (v === undefined) throw new SpecifierError(`unknown specifier %${letter} in "${s}"`);
    out += v;
    i++;
  }
  return out;
}
