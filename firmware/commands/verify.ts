/**
 * `bunit verify [--units DIR]... [--quiet] [--json] UNIT|FILE...`, like systemd-analyze verify:
 * loads each unit (and the service its socket activates), prints every diagnostic as
 * "file:line: level: Directive=: message", and exits 1 when any unit has an error.
 */
import { basename, resolve } from "node:path";
import { existsSync } from "node:fs";
import { formatDiagnostic, type Diagnostic } from "../unit/diagnostics.ts";
import { hostFacts } from "../unit/host-facts.ts";
import { searchPathFor, UnitLoader } from "../unit/unit-loader.ts";
import { parseUnitName } from "../unit/unit-name.ts";
import { verifyService, verifySocket, verifySocketService } from "../unit/unit-verify.ts";
import type { LoadedUnit } from "../unit/unit-file.ts";
import { defaultUnitPath } from "../unit/unit-path.ts";
import { loadUsbBlobs } from "../usb/ffs-port.ts";

export interface VerifyResult {
  unit: string;
  diagnostics: Diagnostic[];
}

const SUPPORTED_TYPES = new Set(["socket", "service", "target"]);

/** Verifies units; pure apart from the loader's file reads. */
export function verifyUnits(names: readonly string[], loader: UnitLoader): VerifyResult[] {
  const results: VerifyResult[] = [];
  for (const arg of names) {
    const name = arg.includes("/") ? basename(arg) : arg;
    const id = parseUnitName(name);
    if (!id) {
      results.push({ unit: arg, diagnostics: [{ level: "error", file: arg, message: `"${name}" is not a valid unit name` }] });
      continue;
    }
    if (!SUPPORTED_TYPES.has(id.type)) {
      results.push({ unit: name, diagnostics: [{ level: "notice", file: arg, message: `.${id.type} units are not supported by bunit; skipped` }] });
      continue;
    }
    // A template is verified through an example instance, as systemd-analyze does.
    const loadName = id.instance === "" ? `${id.prefix}@verify.${id.type}` : name;
    const u = loader.load(loadName);
    results.push({ unit: name, diagnostics: diagnosticsFor(u, loader) });
  }
  return results;
}

export function diagnosticsFor(u: LoadedUnit, loader: UnitLoader): Diagnostic[] {
  const out = [...u.diagnostics];
  if (u.loadState === "not-found") {
    out.push({ level: "error", file: u.name, message: "Unit not found in the search path" });
    return out;
  }
  if (u.loadState === "masked") {
    out.push({ level: "notice", file: u.name, message: "Unit is masked" });
    return out;
  }
  if (u.socket) {
    out.push(...verifySocket(u));
    out.push(...verifySocketService(u, (n) => loader.load(n.endsWith("@.service") ? n.replace("@.service", "@verify.service") : n), checkUsbFiles));
  }
  if (u.service) out.push(...verifyService(u));
  return out;
}

function checkUsbFiles(descriptors: string, strings: string | undefined, service: string): string | null {
  try {
    loadUsbBlobs(descriptors, strings, service);
    return null;
  } catch (e) {
    return (e as Error).message;
  }
}

export function runVerify(args: string[]): number {
  const dirs: string[] = [];
  const units: string[] = [];
  let quiet = false, json = false;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === "--units") dirs.push(resolve(args[++i] ?? "."));
    else if (a === "--quiet" || a === "-q") quiet = true;
    else if (a === "--json") json = true;
    else if (a.startsWith("-")) {
      console.error(`bunit verify: unknown option ${a}`);
      return 2;
    } else units.push(a);
  }
  if (units.length === 0) {
    console.error("usage: bunit verify [--units DIR]... [--quiet] [--json] UNIT|FILE...");
    return 2;
  }
  for (const u of units) {
    if (u.includes("/") && !existsSync(u)) {
      console.error(`${u}: No such file`);
      return 1;
    }
  }
  const loader = new UnitLoader(searchPathFor(units, dirs.length ? dirs : defaultUnitPath()), hostFacts());
  const results = verifyUnits(units, loader);
  const all = results.flatMap((r) => r.diagnostics);
  if (json) console.log(JSON.stringify(results, null, 2));
  else for (const d of all) if (!quiet || d.level !== "notice") console.log(formatDiagnostic(d));
  return all.some((d) => d.level === "error") ? 1 : 0;
}
