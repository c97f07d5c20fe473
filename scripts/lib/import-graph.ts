/**
 * The import graph of a source tree, as pure computation over file texts (no file system here:
 * scripts/import-graph.ts reads the files and prints). Finds the static imports of each file
 * (`import type` and `export ... from` included), file-level cycles (strongly connected
 * components), arrows between folders, the arrows that run back up a layer order, and the
 * largest files.
 */
import { posix } from "node:path";

/**
 * The layers of firmware/, low to high. A file's layer is its first folder under firmware/, or
 * its own name for a file at the top (native.ts, version.ts, cli.ts). An arrow from a layer to
 * a higher one "runs back up". Reasons for the order:
 * - sys: kernel ABI numbers and address encodings; imports nothing.
 * - native: the bun:ffi boundary (native/lib.ts is the one file importing bun:ffi; the other
 *   files wrap its calls by domain), over sys; native.ts re-exports it. version.ts: a constant.
 * - core: clock, errors, logging, fd watching, rate limits; knows no unit or process.
 * - unit: the unit-file language (parsing, values, addresses, verification). install:
 *   enablement of unit files (links, presets), over unit/ only.
 * - uevent, vhost: device protocols (kernel uevents, vhost-user) that know nothing of units.
 * - lib: libraries for services and host tools (listen-fds, sd-notify, vsock over both
 *   transports, the description validator), usable without the daemon; vsock parses addresses
 *   as units do and speaks vhost's host protocol, so lib sits above unit/ and vhost/.
 * - usb: FunctionFS and gadgets, over lib's validator; used by socket units and the manager.
 * - exec: process execution (spawn, watching, environment, cgroups, exec spec), shared by
 *   sockets and services; reads unit-language types.
 * - runtime: what every unit type shares at run time (UnitRuntime, UnitHost), above execution.
 * - socket below service: a socket unit triggers its service; the service receives connections.
 * - control below daemon: control/ defines the protocol and the interface (ControlledSystem)
 *   that the daemon implements.
 * - commands: the CLI's subcommands over daemon and control; testing: fakes for the tests only,
 *   so high that any production import of it runs back up; tools, examples: stand-alone
 *   programs; cli.ts: the entry point.
 */
export const FIRMWARE_LAYERS: readonly string[] = [
  "sys",
  "native",
  "native.ts",
  "version.ts",
  "core",
  "unit",
  "install",
  "uevent",
  "vhost",
  "lib",
  "usb",
  "exec",
  "runtime",
  "socket",
  "service",
  "control",
  "daemon",
  "commands",
  "testing",
  "tools",
  "examples",
  "cli.ts",
];

/** Files over this many lines are flagged in the report. */
export const FLAG_LINES = 500;
/** Files over this many lines fail `--check`. */
export const CHECK_LINES = 550;

export interface ImportRef {
  specifier: string;
  /** Only types cross (`import type`, `export type`, or every named specifier marked `type`). */
  typeOnly: boolean;
  /** `import("x")` with a literal: not part of the static graph. */
  dynamic: boolean;
  line: number;
}

export interface Token {
  kind: "word" | "string" | "punct";
  value: string;
  line: number;
}

/** Words after which a `/` starts a regular expression rather than a division. */
const REGEX_AFTER_WORDS = new Set(["return", "typeof", "case", "do", "else", "in", "of", "new", "delete", "void", "throw", "instanceof", "yield", "await"]);

/**
 * Tokens of a TypeScript text, enough to find import and export declarations: comments,
 * template literals (with nested `${}`) and regular expressions are skipped, so an "import"
 * inside them is never seen.
 */
export function tokenize(src: string): Token[] {
  const tokens: Token[] = [];
  let line = 1;
  let i = 0;
  const isWord = (c: string) => /[\w$]/.test(c) || c > "\x7f";

  // Scans code from i; returns at a "}" that closes depth 0 when inTemplate (the end of ${...}).
  function code(emit: boolean, inTemplate: boolean): void {
    let depth = 0;
    let prev: Token | undefined; // the last token seen at this level, emitted or not
    const push = (t: Token) => {
      prev = t;
      if (emit) tokens.push(t);
    };
    while (i < src.length) {
      const c = src[i]!;
      const next = src[i + 1];
      if (c === "\n") {
        line++;
        i++;
      } else if (c === " " || c === "\t" || c === "\r") {
        i++;
      } else if (c === "/" && next === "/") {
        while (i < src.length && src[i] !== "\n") i++;
      } else if (c === "/" && next === "*") {
        const end = src.indexOf("*/", i + 2);
        const stop = end < 0 ? src.length : end + 2;
        for (let k = i; k < stop; k++) if (src[k] === "\n") line++;
        i = stop;
      } else if (c === '"' || c === "'") {
        const startLine = line;
        let value = "";
        i++;
        while (i < src.length && src[i] !== c) {
          if (src[i] === "\\") {
            value += src[i + 1] ?? "";
            i += 2;
          } else {
            if (src[i] === "\n") line++;
            value += src[i];
            i++;
          }
        }
        i++;
        push({ kind: "string", value, line: startLine });
      } else if (c === "`") {
        const startLine = line;
        template();
        push({ kind: "punct", value: "`", line: startLine });
      } else if (c === "/") {
        const division =
          prev !== undefined &&
          (prev.kind === "word" ? !REGEX_AFTER_WORDS.has(prev.value) : prev.kind === "string" || [")", "]", "}", "`"].includes(prev.value));
        const startLine = line;
        if (division) i++;
        else regex();
        push({ kind: "punct", value: division ? "/" : "/re/", line: startLine });
      } else if (isWord(c)) {
        const start = i;
        while (i < src.length && isWord(src[i]!)) i++;
        push({ kind: "word", value: src.slice(start, i), line });
      } else {
        if (c === "{") depth++;
        if (c === "}") {
          if (inTemplate && depth === 0) {
            i++;
            return;
          }
          depth--;
        }
        push({ kind: "punct", value: c, line });
        i++;
      }
    }
  }

  function template(): void {
    i++; // the opening backtick
    while (i < src.length && src[i] !== "`") {
      if (src[i] === "\\") i += 2;
      else if (src[i] === "$" && src[i + 1] === "{") {
        i += 2;
        code(false, true);
      } else {
        if (src[i] === "\n") line++;
        i++;
      }
    }
    i++;
  }

  function regex(): void {
    i++; // the opening slash
    let inClass = false;
    while (i < src.length && src[i] !== "\n") {
      const c = src[i]!;
      i += c === "\\" ? 2 : 1;
      if (c === "[") inClass = true;
      else if (c === "]") inClass = false;
      else if (c === "/" && !inClass) break;
    }
    while (i < src.length && /[a-z]/.test(src[i]!)) i++;
  }

  if (src.startsWith("#!")) i = src.indexOf("\n") < 0 ? src.length : src.indexOf("\n"); // a shebang line
  code(true, false);
  return tokens;
}

/** The imports and re-exports of one file, in order. */
export function scanImports(src: string): ImportRef[] {
  const toks = tokenize(src);
  const out: ImportRef[] = [];
  const is = (k: number, kind: Token["kind"], value?: string) => toks[k]?.kind === kind && (value === undefined || toks[k]!.value === value);

  // From k (just after "import"/"export" [type]), the string after the clause's `from`.
  function fromClause(k: number): { spec: string; end: number } | null {
    for (let j = k; j < toks.length; j++) {
      if (is(j, "punct", ";")) return null;
      if (j > k && (is(j, "word", "import") || is(j, "word", "export")) && !is(j - 1, "punct", ".")) return null;
      if (is(j, "word", "from") && is(j + 1, "string")) return { spec: toks[j + 1]!.value, end: j + 1 };
    }
    return null;
  }

  // `{ type A, type B as C }` starting at k: true when every specifier is marked `type`.
  function allNamedAreTypes(k: number): boolean {
    if (!is(k, "punct", "{")) return false;
    let first = true;
    let sawAny = false;
    for (let j = k + 1; j < toks.length && !is(j, "punct", "}"); j++) {
      if (first) {
        sawAny = true;
        if (!(is(j, "word", "type") && is(j + 1, "word") && !is(j + 1, "word", "as"))) return false;
      }
      first = is(j, "punct", ",");
    }
    return sawAny;
  }

  for (let k = 0; k < toks.length; k++) {
    const t = toks[k]!;
    if (t.kind !== "word" || (t.value !== "import" && t.value !== "export") || is(k - 1, "punct", ".")) continue;
    if (t.value === "import") {
      if (is(k + 1, "punct", "(")) {
        if (is(k + 2, "string") && (is(k + 3, "punct", ")") || is(k + 3, "punct", ","))) {
          out.push({ specifier: toks[k + 2]!.value, typeOnly: false, dynamic: true, line: t.line });
        }
        continue;
      }
      if (is(k + 1, "punct", ".")) continue; // import.meta
      if (is(k + 1, "string")) {
        out.push({ specifier: toks[k + 1]!.value, typeOnly: false, dynamic: false, line: t.line });
        continue;
      }
      const typeKeyword = is(k + 1, "word", "type") && !is(k + 2, "word", "from") && !is(k + 2, "punct", ",") && !is(k + 2, "punct", "=");
      const found = fromClause(k + 1);
      if (!found) continue;
      out.push({ specifier: found.spec, typeOnly: typeKeyword || allNamedAreTypes(k + 1), dynamic: false, line: t.line });
      k = found.end;
    } else {
      const typeKeyword = is(k + 1, "word", "type") && (is(k + 2, "punct", "{") || is(k + 2, "punct", "*"));
      const start = typeKeyword ? k + 2 : k + 1;
      if (is(start, "punct", "*")) {
        const found = fromClause(start);
        if (found) {
          out.push({ specifier: found.spec, typeOnly: typeKeyword, dynamic: false, line: t.line });
          k = found.end;
        }
      } else if (is(start, "punct", "{")) {
        let close = start;
        while (close < toks.length && !is(close, "punct", "}")) close++;
        if (is(close + 1, "word", "from") && is(close + 2, "string")) {
          out.push({ specifier: toks[close + 2]!.value, typeOnly: typeKeyword || allNamedAreTypes(start), dynamic: false, line: t.line });
          k = close + 2;
        }
      }
    }
  }
  return out;
}

/** The file (a path relative to the tree's root, "/"-separated) a relative specifier names, if in `files`. */
export function resolveImport(from: string, specifier: string, files: ReadonlySet<string>): string | null {
  if (!specifier.startsWith("./") && !specifier.startsWith("../")) return null;
  const base = posix.normalize(posix.join(posix.dirname(from), specifier));
  const candidates = [base, `${base}.ts`, `${base}/index.ts`];
  if (base.endsWith(".js")) candidates.push(`${base.slice(0, -3)}.ts`);
  for (const c of candidates) if (files.has(c)) return c;
  return null;
}

export interface Edge {
  from: string;
  to: string;
  typeOnly: boolean;
  line: number;
}

export interface Graph {
  files: string[];
  edges: Edge[];
  /** Relative specifiers that name no file of the tree (outside it, a test file, or missing). */
  unresolved: { from: string; specifier: string; line: number }[];
  dynamic: { from: string; specifier: string; line: number }[];
  externalImports: number;
}

/** The static import graph of a set of files (path relative to the root -> text). */
export function buildGraph(sources: ReadonlyMap<string, string>): Graph {
  const files = [...sources.keys()].sort();
  const set = new Set(files);
  const edges: Edge[] = [];
  const unresolved: Graph["unresolved"] = [];
  const dynamic: Graph["dynamic"] = [];
  let externalImports = 0;
  for (const from of files) {
    for (const ref of scanImports(sources.get(from)!)) {
      if (ref.dynamic) {
        dynamic.push({ from, specifier: ref.specifier, line: ref.line });
        continue;
      }
      const to = resolveImport(from, ref.specifier, set);
      if (to) edges.push({ from, to, typeOnly: ref.typeOnly, line: ref.line });
      else if (ref.specifier.startsWith(".")) unresolved.push({ from, specifier: ref.specifier, line: ref.line });
      else externalImports++;
    }
  }
  return { files, edges, unresolved, dynamic, externalImports };
}

/** Successor lists of a directed graph given by its edges. */
function successors(nodes: readonly string[], arrows: readonly { from: string; to: string }[]): Map<string, string[]> {
  const adj = new Map<string, string[]>(nodes.map((n) => [n, []]));
  for (const a of arrows) {
    const list = adj.get(a.from);
    if (list && !list.includes(a.to)) list.push(a.to);
  }
  for (const list of adj.values()) list.sort();
  return adj;
}

/** Strongly connected components (Tarjan, iterative), each sorted, in order of their first node. */
export function stronglyConnected(nodes: readonly string[], arrows: readonly { from: string; to: string }[]): string[][] {
  const adj = successors(nodes, arrows);
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const out: string[][] = [];
  let counter = 0;
  for (const root of [...nodes].sort()) {
    if (index.has(root)) continue;
    const work: { node: string; next: number }[] = [{ node: root, next: 0 }];
    index.set(root, counter);
    low.set(root, counter++);
    stack.push(root);
    onStack.add(root);
    while (work.length) {
      const frame = work[work.length - 1]!;
      const succ = adj.get(frame.node) ?? [];
      if (frame.next < succ.length) {
        const w = succ[frame.next++]!;
        if (!index.has(w)) {
          index.set(w, counter);
          low.set(w, counter++);
          stack.push(w);
          onStack.add(w);
          work.push({ node: w, next: 0 });
        } else if (onStack.has(w)) {
          low.set(frame.node, Math.min(low.get(frame.node)!, index.get(w)!));
        }
        continue;
      }
      work.pop();
      const parent = work[work.length - 1];
      if (parent) low.set(parent.node, Math.min(low.get(parent.node)!, low.get(frame.node)!));
      if (low.get(frame.node) === index.get(frame.node)) {
        const comp: string[] = [];
        let w: string;
        do {
          w = stack.pop()!;
          onStack.delete(w);
          comp.push(w);
        } while (w !== frame.node);
        out.push(comp.sort());
      }
    }
  }
  return out.sort((a, b) => (a[0]! < b[0]! ? -1 : 1));
}

/** A shortest cycle through `start` inside `component` ([a, b, ..., a]), or null. */
export function cycleThrough(start: string, component: readonly string[], arrows: readonly { from: string; to: string }[]): string[] | null {
  const inside = new Set(component);
  const adj = successors(
    component,
    arrows.filter((a) => inside.has(a.from) && inside.has(a.to)),
  );
  const parent = new Map<string, string>();
  const queue = [start];
  for (let q = 0; q < queue.length; q++) {
    const node = queue[q]!;
    for (const w of adj.get(node) ?? []) {
      if (w === start) {
        const path = [start];
        for (let n = node; n !== start; n = parent.get(n)!) path.unshift(n);
        path.unshift(start);
        return path;
      }
      if (!parent.has(w)) {
        parent.set(w, node);
        queue.push(w);
      }
    }
  }
  return null;
}

export interface Cycle {
  files: string[];
  /** One concrete cycle, first file repeated at the end. */
  path: string[];
}

/** Components with more than one file, or a file that imports itself. */
export function findCycles(nodes: readonly string[], arrows: readonly { from: string; to: string }[]): Cycle[] {
  const cycles: Cycle[] = [];
  const selfImports = new Set(arrows.filter((a) => a.from === a.to).map((a) => a.from));
  for (const comp of stronglyConnected(nodes, arrows)) {
    const self = comp.length === 1 && selfImports.has(comp[0]!);
    if (comp.length < 2 && !self) continue;
    cycles.push({ files: comp, path: cycleThrough(comp[0]!, comp, arrows) ?? comp });
  }
  return cycles;
}

/** A file's layer: its first folder, or its own name at the top of the tree. */
export function layerOf(file: string): string {
  const slash = file.indexOf("/");
  return slash < 0 ? file : file.slice(0, slash);
}

export interface FolderArrow {
  from: string;
  to: string;
  imports: number;
  typeOnly: number;
  edges: Edge[];
}

/** Imports between layers (same-layer imports left out), sorted by from, then to. */
export function folderArrows(edges: readonly Edge[]): FolderArrow[] {
  const map = new Map<string, FolderArrow>();
  for (const e of edges) {
    const from = layerOf(e.from);
    const to = layerOf(e.to);
    if (from === to) continue;
    const key = `${from}\0${to}`;
    let a = map.get(key);
    if (!a) map.set(key, (a = { from, to, imports: 0, typeOnly: 0, edges: [] }));
    a.imports++;
    if (e.typeOnly) a.typeOnly++;
    a.edges.push(e);
  }
  return [...map.values()].sort((a, b) => (a.from === b.from ? (a.to < b.to ? -1 : 1) : a.from < b.from ? -1 : 1));
}

/** Arrows from a layer to a higher one in `layers`. Layers not in the list are not ranked. */
export function backArrows(arrows: readonly FolderArrow[], layers: readonly string[]): FolderArrow[] {
  return arrows.filter((a) => {
    const from = layers.indexOf(a.from);
    const to = layers.indexOf(a.to);
    return from >= 0 && to >= 0 && to > from;
  });
}

export function lineCount(text: string): number {
  if (text === "") return 0;
  const n = text.split("\n").length;
  return text.endsWith("\n") ? n - 1 : n;
}

export interface Report {
  files: number;
  imports: number;
  typeOnlyImports: number;
  externalImports: number;
  dynamicImports: Graph["dynamic"];
  unresolved: Graph["unresolved"];
  cycles: Cycle[];
  layers: readonly string[];
  unlayered: string[];
  folderArrows: Omit<FolderArrow, "edges">[];
  folderCycles: string[][];
  backArrows: { from: string; to: string; imports: { from: string; to: string; line: number; typeOnly: boolean }[] }[];
  largest: { file: string; lines: number; flagged: boolean }[];
  check: { ok: boolean; problems: string[] };
}

/** Everything the script prints, from the tree's file texts. */
export function analyse(sources: ReadonlyMap<string, string>, layers: readonly string[] = FIRMWARE_LAYERS, top = 10): Report {
  const graph = buildGraph(sources);
  const cycles = findCycles(graph.files, graph.edges);
  const arrows = folderArrows(graph.edges);
  const layerNames = [...new Set(graph.files.map(layerOf))].sort();
  const back = backArrows(arrows, layers);
  const sizes = graph.files.map((file) => ({ file, lines: lineCount(sources.get(file)!) })).sort((a, b) => b.lines - a.lines || (a.file < b.file ? -1 : 1));
  const problems: string[] = [];
  for (const c of cycles) problems.push(`cycle: ${c.path.join(" -> ")}`);
  for (const s of sizes) if (s.lines > CHECK_LINES) problems.push(`${s.file}: ${s.lines} lines (limit ${CHECK_LINES})`);
  return {
    files: graph.files.length,
    imports: graph.edges.length,
    typeOnlyImports: graph.edges.filter((e) => e.typeOnly).length,
    externalImports: graph.externalImports,
    dynamicImports: graph.dynamic,
    unresolved: graph.unresolved,
    cycles,
    layers,
    unlayered: layerNames.filter((l) => !layers.includes(l)),
    folderArrows: arrows.map(({ edges: _, ...a }) => a),
    folderCycles: stronglyConnected(layerNames, arrows).filter((c) => c.length > 1),
    backArrows: back.map((a) => ({ from: a.from, to: a.to, imports: a.edges.map((e) => ({ from: e.from, to: e.to, line: e.line, typeOnly: e.typeOnly })) })),
    largest: sizes.slice(0, top).map((s) => ({ ...s, flagged: s.lines > FLAG_LINES })),
    check: { ok: problems.length === 0, problems },
  };
}

/** The report as text, for people. */
export function formatReport(r: Report, rootName: string): string {
  const out: string[] = [];
  out.push(
    `import graph of ${rootName}: ${r.files} files (tests left out), ${r.imports} imports between them (${r.typeOnlyImports} type-only), ${r.externalImports} of packages and built-ins`,
  );
  out.push("");
  out.push(`cycles (file level): ${r.cycles.length}`);
  r.cycles.forEach((c, n) => {
    out.push(`  [${n + 1}] ${c.files.length} file${c.files.length === 1 ? "" : "s"}: ${c.files.join(", ")}`);
    out.push(`      e.g. ${c.path.join(" -> ")}`);
  });
  out.push("");
  out.push(`layers, low to high: ${r.layers.join(" < ")}`);
  if (r.unlayered.length) out.push(`  not in the layer list (arrows to or from them are not ranked): ${r.unlayered.join(", ")}`);
  out.push("");
  out.push("folder arrows (imports; type-only):");
  for (const a of r.folderArrows) {
    const back = r.backArrows.some((b) => b.from === a.from && b.to === a.to) ? "   ^ runs back up" : "";
    out.push(`  ${a.from.padEnd(12)} -> ${a.to.padEnd(12)} ${String(a.imports).padStart(3)}${a.typeOnly ? `; ${a.typeOnly}` : ""}${back}`);
  }
  out.push(`folder cycles: ${r.folderCycles.length ? r.folderCycles.map((c) => c.join(" <-> ")).join("; ") : "none"}`);
  out.push("");
  const backImports = r.backArrows.reduce((n, a) => n + a.imports.length, 0);
  out.push(`arrows that run back up: ${r.backArrows.length} folder pairs, ${backImports} imports`);
  for (const a of r.backArrows) {
    out.push(`  ${a.from} -> ${a.to}`);
    for (const e of a.imports) out.push(`      ${e.from}:${e.line} -> ${e.to}${e.typeOnly ? " (type)" : ""}`);
  }
  out.push("");
  out.push(`largest files (lines; ! over ${FLAG_LINES}):`);
  for (const s of r.largest) out.push(`  ${String(s.lines).padStart(5)} ${s.flagged ? "!" : " "} ${s.file}`);
  if (r.unresolved.length) {
    out.push("");
    out.push("relative imports naming no file of the tree:");
    for (const u of r.unresolved) out.push(`  ${u.from}:${u.line} ${u.specifier}`);
  }
  if (r.dynamicImports.length) {
    out.push("");
    out.push(`dynamic imports (not arrows of the static graph): ${r.dynamicImports.map((d) => `${d.from}:${d.line} ${d.specifier}`).join(", ")}`);
  }
  out.push("");
  out.push(
    r.check.ok
      ? `check: ok (no cycle, no file over ${CHECK_LINES} lines)`
      : `check: ${r.check.problems.length} problem(s)\n${r.check.problems.map((p) => `  ${p}`).join("\n")}`,
  );
  return out.join("\n");
}
