/**
 * `bunit verify [--root DIR] [--root-map FILE] [--units DIR]... [--quiet] [--json] UNIT|FILE...`,
 * like systemd-analyze verify: loads each unit (and the service its socket activates), checks the
 * files it names (executables, environment files, FunctionFS descriptions) on the system it
 * runs on, prints every diagnostic as "file:line: level: Directive=: message", and exits 1 when
 * any unit has an error. With --root (systemd-analyze's --root=) that system is an image's tree;
 * with --root-map a repository's folders stand in for the image's paths (readRootMap()).
 */
import { basename, resolve } from "node:path";
import { existsSync, readFileSync, realpathSync } from "node:fs";
import { formatDiagnostic, type Diagnostic } from "../unit/diagnostics.ts";
import { hostFacts } from "../unit/host-facts.ts";
import { parseUnitText } from "../unit/ini-syntax.ts";
import { searchPathFor, UnitLoader } from "../unit/unit-loader.ts";
import { parseUnitName } from "../unit/unit-name.ts";
import {
  type FileProblem,
  type LineFinder,
  type ReferenceProbe,
  verifyReferences,
  verifyService,
  verifySocket,
  verifySocketService,
} from "../unit/unit-verify.ts";
import type { LoadedUnit } from "../unit/unit-file.ts";
import { DEFAULT_UNIT_PATH, defaultUnitPath, findExecutableIn, ImageRoot, readRootMap } from "../unit/unit-path.ts";
import { DEFAULT_PATH } from "../exec/environment.ts";
import { loadUsbBlobs } from "../usb/ffs-port.ts";
import { errorText } from "../core/errors.ts";

export interface VerifyResult {
  unit: string;
  diagnostics: Diagnostic[];
}

/** Where the files units name are: the host ("/"), or an image's tree. */
export interface VerifyContext {
  root: ImageRoot;
}

const SUPPORTED_TYPES = new Set(["socket", "service", "target"]);

/**
 * Verifies units; pure apart from the loader's file reads and, given a context, the checks of
 * the files the units name (without one, only the unit files are read).
 */
export function verifyUnits(names: readonly string[], loader: UnitLoader, ctx?: VerifyContext): VerifyResult[] {
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
    results.push({ unit: name, diagnostics: diagnosticsFor(u, loader, ctx) });
  }
  return results;
}

export function diagnosticsFor(u: LoadedUnit, loader: UnitLoader, ctx?: VerifyContext): Diagnostic[] {
  const out = [...u.diagnostics];
  if (u.loadState === "not-found") {
    out.push({ level: "error", file: u.name, message: "Unit not found in the search path" });
    return out;
  }
  if (u.loadState === "masked") {
    out.push({ level: "notice", file: u.name, message: "Unit is masked" });
    return out;
  }
  const root = ctx?.root ?? ImageRoot.dir("/");
  if (u.socket) {
    out.push(...verifySocket(u));
    out.push(
      ...verifySocketService(
        u,
        (n) => loader.load(n.endsWith("@.service") ? n.replace("@.service", "@verify.service") : n),
        (d, s, service) => checkUsbFiles(root, d, s, service),
      ),
    );
  }
  if (u.service) out.push(...verifyService(u));
  if (ctx) out.push(...verifyReferences(u, referenceProbe(ctx.root), lineFinder(u)));
  return out;
}

function referenceProbe(root: ImageRoot): ReferenceProbe {
  return {
    executable: (command) => findExecutableIn(root, command, DEFAULT_PATH),
    file: (path, kind) => root.fileProblem(path, kind),
  };
}

/** Finds the line of an assignment by reading the unit's files again (only when there is a problem to report). */
function lineFinder(u: LoadedUnit): LineFinder {
  return (key, text) => {
    let found: { file: string; line: number } | undefined;
    for (const file of [...(u.fragmentPath ? [u.fragmentPath] : []), ...u.dropinPaths]) {
      let body: string;
      try {
        body = readFileSync(file, "utf8");
      } catch {
        continue;
      }
      for (const a of parseUnitText(body, file).assignments) if (a.key === key && a.value.includes(text)) found = { file: a.file, line: a.line };
    }
    return found;
  };
}

/** Compiles or decodes a service's FunctionFS description as the socket will at start, reading it inside the root. */
function checkUsbFiles(root: ImageRoot, descriptors: string, strings: string | undefined, service: string): FileProblem | null {
  const d = root.resolve(descriptors);
  if ("error" in d) return { key: "USBFunctionDescriptors", message: `${descriptors}: ${d.error}` };
  let s: string | undefined;
  if (strings !== undefined) {
    const r = root.resolve(strings);
    if ("error" in r) return { key: "USBFunctionStrings", message: `${strings}: ${r.error}` };
    s = r.host;
  }
  try {
    loadUsbBlobs(d.host, s, service);
    return null;
  } catch (e) {
    return { key: "USBFunctionDescriptors", message: errorText(e) };
  }
}

const USAGE = "usage: bunit verify [--root DIR] [--root-map FILE] [--units DIR]... [--quiet] [--json] UNIT|FILE...";

interface VerifyArgs {
  dirs: string[];
  units: string[];
  root: string;
  rootMap: string;
  quiet: boolean;
  json: boolean;
}

function parseArgs(args: readonly string[]): VerifyArgs | string {
  const out: VerifyArgs = { dirs: [], units: [], root: "", rootMap: "", quiet: false, json: false };
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const eq = a.indexOf("=");
    const flag = a.startsWith("--") && eq > 0 ? a.slice(0, eq) : a;
    const value = () => {
      const v = flag !== a ? a.slice(eq + 1) : args[++i];
      if (v === undefined || v === "") throw new Error(`${flag} needs a value`);
      return v;
    };
    try {
      if (flag === "--units") out.dirs.push(value());
      else if (flag === "--root") out.root = value();
      else if (flag === "--root-map") out.rootMap = value();
      else if (a === "--quiet" || a === "-q") out.quiet = true;
      else if (a === "--json") out.json = true;
      else if (a.startsWith("-")) return `unknown option ${a}`;
      else out.units.push(a);
    } catch (e) {
      return errorText(e);
    }
  }
  return out;
}

export function runVerify(argv: string[]): number {
  const args = parseArgs(argv);
  if (typeof args === "string") {
    console.error(`bunit verify: ${args}`);
    return 2;
  }
  if (args.units.length === 0) {
    console.error(USAGE);
    return 2;
  }
  for (const u of args.units) {
    if (u.includes("/") && !existsSync(u)) {
      console.error(`${u}: No such file`);
      return 1;
    }
  }
  let ctx: VerifyContext;
  let base: string[];
  try {
    ({ ctx, base } = verifyContext(args));
  } catch (e) {
    console.error(`bunit verify: ${errorText(e)}`);
    return 1;
  }
  const loader = new UnitLoader(searchPathFor(args.units, base), hostFacts());
  const results = verifyUnits(args.units, loader, ctx);
  const all = results.flatMap((r) => r.diagnostics);
  if (args.json) console.log(JSON.stringify(results, null, 2));
  else {
    // A socket and its service named together report a shared file once.
    const lines = new Set<string>();
    for (const d of all) if (!args.quiet || d.level !== "notice") lines.add(formatDiagnostic(d));
    for (const l of lines) console.log(l);
  }
  return all.some((d) => d.level === "error") ? 1 : 0;
}

/**
 * The system the units are checked against and the unit search path (host directories): with a
 * root, the search path (--units DIR or the default one) is read inside it, as systemd-analyze
 * --root does; unit files named on the command line are read where they are.
 */
function verifyContext(args: VerifyArgs): { ctx: VerifyContext; base: string[] } {
  if (!args.root && !args.rootMap) {
    return { ctx: { root: ImageRoot.dir("/") }, base: args.dirs.length ? args.dirs.map((d) => resolve(d)) : defaultUnitPath() };
  }
  const mounts = args.rootMap ? readRootMap(args.rootMap) : [];
  if (args.root) {
    if (!existsSync(args.root)) throw new Error(`--root ${args.root}: No such directory`);
    mounts.push({ at: "/", sources: [realpathSync(args.root)] });
  }
  const root = new ImageRoot(mounts);
  const inImage = args.dirs.length ? args.dirs.map((d) => (d.startsWith("/") ? d : `/${d}`)) : DEFAULT_UNIT_PATH;
  return { ctx: { root }, base: inImage.flatMap((d) => root.directories(d)) };
}
