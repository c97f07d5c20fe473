/**
 * systemctl show's selection and printing rules over a unit's properties: `-p/--property`
 * (repeatable, comma lists) picks names and shows them even when empty; `--all` shows empty
 * values too; `--value` prints values only (`-P NAME` is `-p NAME --value`). A value with a
 * newline prints as [unprintable]; other control characters are escaped. Pure.
 */
import type { Property } from "./unit-properties.ts";
import { escapeControl } from "./systemd-format.ts";

export interface ShowOptions {
  /** Names asked for with -p; null: every property. */
  properties: string[] | null;
  all: boolean;
  value: boolean;
}

/** -p arguments, each possibly a comma list, into names. */
export function splitPropertyArgs(args: readonly string[]): string[] {
  return args
    .flatMap((a) => a.split(","))
    .map((s) => s.trim())
    .filter(Boolean);
}

function printable(v: string): string {
  return v.includes("\n") ? "[unprintable]" : escapeControl(v);
}

export function showLines(props: readonly Property[], o: ShowOptions): string[] {
  const wanted = o.properties ? new Set(o.properties) : null;
  const showEmpty = o.all || wanted !== null;
  const out: string[] = [];
  for (const [name, value] of props) {
    if (wanted && !wanted.has(name)) continue;
    if (value === "" && !showEmpty) continue;
    out.push(o.value ? printable(value) : `${name}=${printable(value)}`);
  }
  return out;
}

/** Several units: blocks separated by an empty line, as systemctl show prints them. */
export function renderShow(units: readonly (readonly Property[])[], o: ShowOptions): string {
  return units
    .map((p) =>
      showLines(p, o)
        .map((l) => l + "\n")
        .join(""),
    )
    .join("\n");
}

/** The value of one property (the first entry), or null. */
export function propertyValue(props: readonly Property[], name: string): string | null {
  return props.find(([n]) => n === name)?.[1] ?? null;
}
