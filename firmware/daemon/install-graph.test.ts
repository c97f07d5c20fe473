import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { TEST_HOST } from "../../test/support/host.ts";
import { installLayout } from "../install/layout.ts";
import { firstBoot } from "../install/operations.ts";
import { UnitLoader } from "../unit/unit-loader.ts";
import { installedDependencies } from "./install-graph.ts";

const base = mkdtempSync(join(tmpdir(), "bunit-install-graph-"));
afterAll(() => rmSync(base, { recursive: true, force: true }));

function system(presets: Record<string, string>): { units: string; graph: () => ReturnType<typeof installedDependencies> } {
  const dir = mkdtempSync(join(base, "sys-"));
  const units = join(dir, "units");
  mkdirSync(units);
  writeFileSync(join(units, "web.socket"), "[Socket]\nListenStream=%t/web.sock\n[Install]\nWantedBy=sockets.target\n");
  writeFileSync(join(units, "web.service"), "[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target\nRequiredBy=x.target\n");
  writeFileSync(join(units, "getty@.service"), "[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=getty.target\nDefaultInstance=tty1\n");
  mkdirSync(join(dir, "system-preset"));
  for (const [n, t] of Object.entries(presets)) writeFileSync(join(dir, "system-preset", n), t);
  return {
    units,
    graph: () => {
      const loader = new UnitLoader([units], TEST_HOST);
      return installedDependencies(loader.listNames(), (n) => loader.load(n), [units]);
    },
  };
}

describe("enablement in the unit graph", () => {
  test("before presets were applied: what preset-all would enable", () => {
    const s = system({ "50-x.preset": "enable web.socket\ndisable *\n" });
    const g = s.graph();
    expect(Object.fromEntries(g.wants)).toEqual({ "sockets.target": ["web.socket"] });
    expect(g.requires.size).toBe(0);
  });

  test("no preset files: every unit with install rules, templates as DefaultInstance=, RequiredBy= as requires", () => {
    const s = system({});
    const g = s.graph();
    expect(Object.fromEntries(g.wants)).toEqual({
      "getty.target": ["getty@tty1.service"],
      "multi-user.target": ["web.service"],
      "sockets.target": ["web.socket"],
    });
    expect(Object.fromEntries(g.requires)).toEqual({ "x.target": ["web.service"] });
  });

  test("without a search path (callers that have none): everything with install rules", () => {
    const s = system({ "50-x.preset": "disable *\n" });
    const loader = new UnitLoader([s.units], TEST_HOST);
    const g = installedDependencies(loader.listNames(), (n) => loader.load(n));
    expect([...g.wants.keys()].sort()).toEqual(["getty.target", "multi-user.target", "sockets.target"]);
  });

  test("after presets were applied: nothing (the loader reads the links)", () => {
    const s = system({ "50-x.preset": "enable web.socket\ndisable *\n" });
    firstBoot(installLayout([s.units]), { host: TEST_HOST });
    const g = s.graph();
    expect(g.wants.size + g.requires.size).toBe(0);
  });
});
