/**
 * Every unit of the repository verifies from a checkout as it will on a board: `bunit verify
 * --root-map units/examples/root-map.toml` resolves ExecStart=, USBFunctionDescriptors= and the
 * unit search path in the image the repository becomes (scripts/build-image.ts), so a broken
 * example fails here rather than on a board. A broken reference under --root is reported at
 * its file, line and directive.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { repoRoot } from "../../scripts/lib/paths.ts";
import { parseBoardConfig } from "../../scripts/lib/board-config.ts";
import { verifyUnits } from "../../firmware/commands/verify.ts";
import { hostFacts } from "../../firmware/unit/host-facts.ts";
import { UnitLoader } from "../../firmware/unit/unit-loader.ts";
import { isValidUnitName } from "../../firmware/unit/unit-name.ts";
import { ImageRoot, readRootMap, type RootMount } from "../../firmware/unit/unit-path.ts";

const cli = join(repoRoot, "firmware", "cli.ts");
const rootMap = join(repoRoot, "units/examples/root-map.toml");
const tmp = mkdtempSync(join(tmpdir(), "bunit-verify-examples-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Every unit file under dir (drop-in and .wants directories are the loader's business). */
function unitFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir).sort()) {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) out.push(...unitFiles(p));
    else if (isValidUnitName(e)) out.push(p);
  }
  return out;
}

function bunit(...args: string[]): { code: number; lines: string[] } {
  const r = Bun.spawnSync([process.execPath, cli, ...args], { cwd: repoRoot });
  return { code: r.exitCode, lines: (r.stdout.toString() + r.stderr.toString()).split("\n").filter(Boolean) };
}

const units = unitFiles(join(repoRoot, "units"));

describe("the repository's units verify against the image they are built into", () => {
  test("bunit verify --root-map units/examples/root-map.toml over every unit in units/: no errors, no warnings", () => {
    expect(units.length).toBeGreaterThanOrEqual(8);
    expect(units.some((u) => u.includes("/units/examples/"))).toBe(true);
    const r = bunit("verify", "--root-map", relative(repoRoot, rootMap), ...units.map((u) => relative(repoRoot, u)));
    expect(r.lines.filter((l) => !l.includes(": notice: "))).toEqual([]);
    expect(r.code).toBe(0);
  });

  test("the map's /etc/bunit/units holds every folder of units/ with unit files, as the board configs copy them", () => {
    const mapped = readRootMap(rootMap).find((m) => m.at === "/etc/bunit/units")!.sources;
    const folders = [...new Set(units.map((u) => u.slice(0, u.lastIndexOf("/"))))].sort();
    expect([...mapped].sort()).toEqual(folders);
    const boardDirs = new Set<string>();
    for (const f of readdirSync(join(repoRoot, "board-configs")).filter((f) => f.endsWith(".toml"))) {
      const b = parseBoardConfig(readFileSync(join(repoRoot, "board-configs", f), "utf8"), f);
      for (const d of b.units.dirs) boardDirs.add(join(repoRoot, d));
    }
    expect([...boardDirs].sort()).toEqual(folders);
  });

  test("each board's image on its own: the units its units.dirs put in /etc/bunit/units, by name", () => {
    const others = readRootMap(rootMap).filter((m) => m.at !== "/etc/bunit/units");
    const boards = readdirSync(join(repoRoot, "board-configs")).filter((f) => f.endsWith(".toml"));
    expect(boards.length).toBeGreaterThanOrEqual(3);
    for (const f of boards) {
      const b = parseBoardConfig(readFileSync(join(repoRoot, "board-configs", f), "utf8"), f);
      const dirs = b.units.dirs.map((d) => join(repoRoot, d));
      const mounts: RootMount[] = [...others, { at: "/etc/bunit/units", sources: dirs }];
      const root = new ImageRoot(mounts);
      const loader = new UnitLoader(root.directories("/etc/bunit/units"), hostFacts());
      const names = [...new Set(dirs.flatMap((d) => readdirSync(d).filter(isValidUnitName)))];
      expect(names.length).toBeGreaterThan(0);
      const problems = verifyUnits(names, loader, { root })
        .flatMap((r) => r.diagnostics)
        .filter((d) => d.level !== "notice")
        .map((d) => `${b.name}: ${d.file}:${d.line ?? ""}: ${d.key ?? ""}= ${d.message}`);
      expect(problems).toEqual([]);
    }
  });
});

describe("a broken reference under --root", () => {
  test("names the unit file, the line and the directive, and bunit verify exits 1", () => {
    // The image tree of usb-loopback as build-image lays it out, with the example's files.
    const root = join(tmp, "root");
    const units = join(root, "etc/bunit/units");
    mkdirSync(units, { recursive: true });
    cpSync(join(repoRoot, "units/examples/usb-loopback"), units, { recursive: true });
    mkdirSync(join(root, "usr/bin"), { recursive: true });
    cpSync(join(repoRoot, "node_modules/bun/bin/bun.exe"), join(root, "usr/bin/bun"));
    expect(bunit("verify", "--root", root, "usb-loopback.socket", "usb-loopback.service")).toEqual({
      code: 0,
      lines: [expect.stringContaining("usb-loopback.socket:9: notice: ListenUSBFunction=:")],
    });
    const svc = join(units, "usb-loopback.service");
    const text = readFileSync(svc, "utf8");
    writeFileSync(svc, text.replace("/usr/bin/bun ", "/usr/bin/bunx ").replace("usb-loopback.toml", "usb-loopbak.toml"));
    const r = bunit("verify", "--root", root, "usb-loopback.socket", "usb-loopback.service");
    expect(r.code).toBe(1);
    expect(r.lines.filter((l) => l.includes(": error: "))).toEqual([
      `${svc}:7: error: USBFunctionDescriptors=: /etc/bunit/units/usb-loopbak.toml: No such file or directory`,
      `${svc}:5: error: ExecStart=: Command /usr/bin/bunx is not executable: No such file or directory`,
    ]);
    // A drop-in inside the root is read, and its line is the one named.
    mkdirSync(`${svc}.d`);
    writeFileSync(
      `${svc}.d/override.conf`,
      "[Service]\nExecStart=\nExecStart=/usr/bin/bun /usr/lib/bunit/firmware/examples/usb-loopback.ts\nExecStartPre=/bin/true\n",
    );
    const d = bunit("verify", "--root", root, "usb-loopback.service");
    expect(d.lines.filter((l) => l.includes(": error: "))).toEqual([
      `${svc}.d/override.conf:4: error: ExecStartPre=: Command /bin/true is not executable: No such file or directory`,
      `${svc}:7: error: USBFunctionDescriptors=: /etc/bunit/units/usb-loopbak.toml: No such file or directory`,
    ]);
  });
});
