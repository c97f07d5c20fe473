/**
 * Line coverage counted over every source file of a tree, not only the files the tests load:
 * bun's lcov report lists a file only when a test imported it, so a file no test loads is
 * added here with 0 of its executable lines covered. Pure computation; scripts/coverage.ts runs
 * the tests and reads the files.
 */
import { tokenize, type Token } from "./import-graph.ts";

export interface FileCoverage {
  /** Lines with code (lcov LF). */
  found: number;
  /** Of those, lines run at least once (lcov LH). */
  hit: number;
}

/** lcov text -> file (as written after SF:) -> lines found and hit. LF/LH when present, else counted from DA. */
export function parseLcov(text: string): Map<string, FileCoverage> {
  const out = new Map<string, FileCoverage>();
  let file: string | null = null;
  let da = { found: 0, hit: 0 };
  let lf: number | null = null;
  let lh: number | null = null;
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line.startsWith("SF:")) {
      file = line.slice(3);
      da = { found: 0, hit: 0 };
      lf = lh = null;
    } else if (file !== null && line.startsWith("DA:")) {
      const hits = Number(line.slice(3).split(",")[1]);
      da.found++;
      if (hits > 0) da.hit++;
    } else if (file !== null && line.startsWith("LF:")) {
      lf = Number(line.slice(3));
    } else if (file !== null && line.startsWith("LH:")) {
      lh = Number(line.slice(3));
    } else if (file !== null && line === "end_of_record") {
      out.set(file, { found: lf ?? da.found, hit: lh ?? da.hit });
      file = null;
    }
  }
  return out;
}

const BRACKETS = new Set(["{", "}", "(", ")", "[", "]", ";", ","]);
/** Words after which a "{" starts an object literal, not a block. */
const EXPRESSION_WORDS = new Set(["return", "yield", "await", "case", "throw", "in", "of", "typeof", "void", "new", "delete"]);

/**
 * The lines of a TypeScript text that hold code, counted as bun's coverage counts them (closely
 * enough for a file no test loads): not blank, not comments; an import or re-export counts once
 * (its first line) unless only types cross; interface and type alias declarations do not count
 * (they vanish when compiled); a line of brackets only counts when it ends an expression
 * (`});`, `},`) but not when it closes a block (`}`).
 */
export function executableLines(src: string): number[] {
  const toks = tokenize(src);
  const skip = new Array<boolean>(toks.length).fill(false);
  const is = (k: number, kind: Token["kind"], value?: string) => toks[k]?.kind === kind && (value === undefined || toks[k]!.value === value);
  const statementStart = (k: number) =>
    k === 0 || is(k - 1, "punct", ";") || is(k - 1, "punct", "}") || is(k - 1, "punct", "{") || is(k - 1, "word", "export") || is(k - 1, "word", "declare");
  const mark = (from: number, to: number) => {
    for (let j = from; j <= to && j < toks.length; j++) skip[j] = true;
  };
  // Index of the `;` ending a declaration from k, brackets balanced (or the last token).
  const declarationEnd = (k: number): number => {
    let depth = 0;
    for (let j = k; j < toks.length; j++) {
      const v = toks[j]!.kind === "punct" ? toks[j]!.value : "";
      if (v === "{" || v === "(" || v === "[") depth++;
      else if (v === "}" || v === ")" || v === "]") depth--;
      else if (v === ";" && depth <= 0) return j;
      // A declaration without `;` ends where a new statement begins on a later line.
      if (
        depth <= 0 &&
        j > k &&
        toks[j]!.line > toks[j - 1]!.line &&
        is(j, "word") &&
        ["export", "import", "const", "let", "function", "class", "type", "interface"].includes(toks[j]!.value)
      )
        return j - 1;
    }
    return toks.length - 1;
  };
  // Index of the `}` closing the block that opens at or after k.
  const blockEnd = (k: number): number => {
    let j = k;
    while (j < toks.length && !is(j, "punct", "{")) j++;
    let depth = 0;
    for (; j < toks.length; j++) {
      if (is(j, "punct", "{")) depth++;
      else if (is(j, "punct", "}") && --depth === 0) return j;
    }
    return toks.length - 1;
  };

  // After `import`/`export` at k: `type ...`, or `{ type A, type B }` with nothing else.
  const typeOnlyClause = (k: number): boolean => {
    if (is(k, "word", "type") && !is(k + 1, "word", "from") && !is(k + 1, "punct", ",") && !is(k + 1, "punct", "=")) return true;
    if (!is(k, "punct", "{") || is(k + 1, "punct", "}")) return false;
    for (let j = k + 1; j < toks.length && !is(j, "punct", "}"); j++) {
      if (
        (is(j - 1, "punct", "{") || is(j - 1, "punct", ",")) &&
        !is(j, "punct", "}") &&
        !(is(j, "word", "type") && is(j + 1, "word") && !is(j + 1, "word", "as"))
      )
        return false;
    }
    return true;
  };

  for (let k = 0; k < toks.length; k++) {
    const t = toks[k]!;
    if (t.kind !== "word" || is(k - 1, "punct", ".")) continue;
    const reExport =
      t.value === "export" &&
      (is(k + 1, "punct", "{") || is(k + 1, "punct", "*") || (is(k + 1, "word", "type") && (is(k + 2, "punct", "{") || is(k + 2, "punct", "*"))));
    if ((t.value === "import" && !is(k + 1, "punct", "(") && !is(k + 1, "punct", ".") && statementStart(k)) || reExport) {
      const end = declarationEnd(k);
      mark(typeOnlyClause(k + 1) ? k : k + 1, end); // the keyword's line stays when values cross
      k = end;
    } else if (t.value === "interface" && is(k + 1, "word") && statementStart(k)) {
      const end = blockEnd(k);
      mark(is(k - 1, "word", "export") ? k - 1 : k, end);
      k = end;
    } else if (t.value === "type" && is(k + 1, "word") && (is(k + 2, "punct", "=") || is(k + 2, "punct", "<")) && statementStart(k)) {
      const end = declarationEnd(k);
      mark(is(k - 1, "word", "export") ? k - 1 : k, end);
      k = end;
    }
  }
  // A "{" opens a block (function body, statement, class) or an object literal.
  const opensBlock = (k: number): boolean => {
    const prev = toks[k - 1];
    if (!prev) return true;
    if (prev.kind === "word") return !EXPRESSION_WORDS.has(prev.value);
    if (prev.kind !== "punct") return false;
    return prev.value === ")" || (prev.value === ">" && is(k - 2, "punct", "="));
  };
  const lines = new Map<number, { code: boolean; opens: boolean; closesExpression: boolean; ends: boolean }>();
  const braces: boolean[] = []; // open braces: block or not
  toks.forEach((t, k) => {
    const isBracket = t.kind === "punct" && BRACKETS.has(t.value);
    let closesObject = false;
    if (is(k, "punct", "{")) braces.push(opensBlock(k));
    else if (is(k, "punct", "}")) closesObject = braces.pop() === false;
    if (skip[k]) return;
    const l = lines.get(t.line) ?? { code: false, opens: false, closesExpression: false, ends: false };
    if (!isBracket) l.code = true;
    else if (t.value === "{") l.opens = true;
    else if (t.value === ")" || t.value === "]" || closesObject) l.closesExpression = true;
    else if (t.value === ";" || t.value === ",") l.ends = true;
    lines.set(t.line, l);
  });
  return [...lines]
    .filter(([, l]) => l.code || (!l.opens && l.closesExpression && l.ends))
    .map(([n]) => n)
    .sort((a, b) => a - b);
}

export interface FolderRow {
  folder: string;
  files: number;
  loaded: number;
  found: number;
  hit: number;
}

export interface CoverageReport {
  rows: FolderRow[];
  total: FolderRow;
  /** What bun itself reports: only the files some test loaded. */
  loadedOnly: { found: number; hit: number };
  /** Source files no test loads, with the lines counted for them. */
  unloaded: { file: string; found: number }[];
}

/** A file's folder for the table: its first folder under the root, "." for files at the top. */
export function folderOf(file: string): string {
  const slash = file.indexOf("/");
  return slash < 0 ? "." : file.slice(0, slash);
}

/**
 * Coverage per folder over every source file. `sources`: path relative to the root -> text;
 * `lcov`: path as lcov names it -> coverage; `prefix`: what lcov puts before a root-relative
 * path (e.g. "firmware/").
 */
export function coverageReport(sources: ReadonlyMap<string, string>, lcov: ReadonlyMap<string, FileCoverage>, prefix: string): CoverageReport {
  const byFolder = new Map<string, FolderRow>();
  const unloaded: CoverageReport["unloaded"] = [];
  const loadedOnly = { found: 0, hit: 0 };
  for (const file of [...sources.keys()].sort()) {
    const folder = folderOf(file);
    let row = byFolder.get(folder);
    if (!row) byFolder.set(folder, (row = { folder, files: 0, loaded: 0, found: 0, hit: 0 }));
    row.files++;
    const c = lcov.get(prefix + file);
    if (c) {
      row.loaded++;
      row.found += c.found;
      row.hit += c.hit;
      loadedOnly.found += c.found;
      loadedOnly.hit += c.hit;
    } else {
      const found = executableLines(sources.get(file)!).length;
      row.found += found;
      unloaded.push({ file, found });
    }
  }
  const rows = [...byFolder.values()].sort((a, b) => (a.folder < b.folder ? -1 : 1));
  const total: FolderRow = { folder: "total", files: 0, loaded: 0, found: 0, hit: 0 };
  for (const r of rows) {
    total.files += r.files;
    total.loaded += r.loaded;
    total.found += r.found;
    total.hit += r.hit;
  }
  return { rows, total, loadedOnly, unloaded: unloaded.sort((a, b) => b.found - a.found || (a.file < b.file ? -1 : 1)) };
}

export function percent(hit: number, found: number): string {
  return found === 0 ? "-" : `${((100 * hit) / found).toFixed(1)} %`;
}

/** The report as a table, for people. */
export function formatCoverage(r: CoverageReport, rootName: string): string {
  const head = ["folder", "files", "loaded", "lines", "covered", "line coverage"];
  const cells = (x: FolderRow) => [x.folder, String(x.files), String(x.loaded), String(x.found), String(x.hit), percent(x.hit, x.found)];
  const table = [head, ...r.rows.map(cells), cells(r.total)];
  const widths = head.map((_, c) => Math.max(...table.map((row) => row[c]!.length)));
  const render = (row: string[]) => row.map((v, c) => (c === 0 ? v.padEnd(widths[c]!) : v.padStart(widths[c]!))).join("  ");
  const out = [`line coverage of every source file under ${rootName} (a file no test loads counts with 0 of its lines)`, ""];
  out.push(render(head));
  out.push(widths.map((w) => "-".repeat(w)).join("  "));
  for (const row of table.slice(1, -1)) out.push(render(row));
  out.push(widths.map((w) => "-".repeat(w)).join("  "));
  out.push(render(table[table.length - 1]!));
  out.push("");
  out.push(
    `over the ${r.total.loaded} files the tests load (what bun reports): ${percent(r.loadedOnly.hit, r.loadedOnly.found)} of ${r.loadedOnly.found} lines`,
  );
  if (r.unloaded.length) {
    out.push(`not loaded by any test (${r.unloaded.length}, lines counted): ${r.unloaded.map((u) => `${u.file} ${u.found}`).join(", ")}`);
  }
  return out.join("\n");
}
