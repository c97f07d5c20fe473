/**
 * Unit names (systemd.unit(5) "Description", unit-name.c): "prefix[@instance].type",
 * templates "foo@.service", escaping of paths and strings ("-" for "/", "\xNN").
 * Pure.
 */

export const UNIT_TYPES = ["service", "socket", "target", "device", "mount", "automount", "swap", "timer", "path", "slice", "scope"] as const;
export type UnitType = (typeof UNIT_TYPES)[number];

const UNIT_NAME_MAX = 255;
const VALID_CHARS = /^[A-Za-z0-9:\-_.\\]+$/;

export interface UnitName {
  name: string;
  /** Everything before "@" (or before ".type" for plain units). */
  prefix: string;
  /** null for plain units, "" for templates. */
  instance: string | null;
  type: UnitType;
}

export function parseUnitName(name: string): UnitName | null {
  if (name.length === 0 || name.length > UNIT_NAME_MAX) return null;
  const dot = name.lastIndexOf(".");
  if (dot <= 0) return null;
  const type = name.slice(dot + 1) as UnitType;
  if (!(UNIT_TYPES as readonly string[]).includes(type)) return null;
  const base = name.slice(0, dot);
  const at = base.indexOf("@");
  if (at < 0) {
    if (!VALID_CHARS.test(base)) return null;
    return { name, prefix: base, instance: null, type };
  }
  if (at === 0) return null;
  const prefix = base.slice(0, at);
  const instance = base.slice(at + 1);
  if (!VALID_CHARS.test(prefix)) return null;
  if (instance !== "" && !/^[A-Za-z0-9:\-_.\\@]+$/.test(instance)) return null;
  return { name, prefix, instance, type };
}

export function isValidUnitName(name: string): boolean {
  return parseUnitName(name) !== null;
}

export function isTemplate(u: UnitName): boolean {
  return u.instance === "";
}

export function isInstance(u: UnitName): boolean {
  return u.instance !== null && u.instance !== "";
}

/** "foo@bar.service" -> "foo@.service"; null for plain units. */
export function templateOf(name: string): string | null {
  const u = parseUnitName(name);
  if (!u || u.instance === null) return null;
  return `${u.prefix}@.${u.type}`;
}

/** "foo@.service" + "bar" -> "foo@bar.service". */
export function instantiate(template: string, instance: string): string {
  const u = parseUnitName(template);
  if (!u || u.instance !== "") throw new Error(`${template} is not a template`);
  return `${u.prefix}@${instance}.${u.type}`;
}

/** Same unit name with another type: ("foo@bar.socket", "service") -> "foo@bar.service". */
export function withType(name: string, type: UnitType): string {
  const dot = name.lastIndexOf(".");
  return `${name.slice(0, dot)}.${type}`;
}

/** unit_name_escape(): for use as an instance ("/" -> "-", others as \xNN). */
export function escapeUnitString(s: string): string {
  let out = "";
  const bytes = new TextEncoder().encode(s);
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!;
    const c = String.fromCharCode(b);
    if (c === "/") out += "-";
    else if ((c === "." && i === 0) || !/[A-Za-z0-9:_.]/.test(c)) out += `\\x${b.toString(16).padStart(2, "0")}`;
    else out += c;
  }
  return out;
}

/** unit_name_path_escape(): "/dev/sda" -> "dev-sda", "/" -> "-". */
export function escapeUnitPath(path: string): string {
  const simplified = path.replace(/\/+/g, "/").replace(/^\/|\/$/g, "");
  if (simplified === "") return "-";
  return escapeUnitString(simplified);
}

/** unit_name_unescape(): "-" -> "/", "\xNN" -> byte. */
export function unescapeUnitString(s: string): string {
  const bytes: number[] = [];
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c === "-") bytes.push(0x2f);
    else if (c === "\\" && s[i + 1] === "x" && /^[0-9a-fA-F]{2}$/.test(s.slice(i + 2, i + 4))) {
      bytes.push(parseInt(s.slice(i + 2, i + 4), 16));
      i += 3;
    } else bytes.push(...new TextEncoder().encode(c));
  }
  return new TextDecoder().decode(new Uint8Array(bytes));
}

/** unit_name_path_unescape(): "dev-sda" -> "/dev/sda". */
export function unescapeUnitPath(s: string): string {
  if (s === "-") return "/";
  return "/" + unescapeUnitString(s);
}
