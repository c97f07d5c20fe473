import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { TEST_HOST } from "../../test/support/host.ts";
import { UnitLoader } from "../unit/unit-loader.ts";
import { presetsApplied } from "./disk.ts";
import { installLayout, PRESET_MARKER } from "./layout.ts";
import { changeEnablement, enablementStates, firstBoot, presetAll, presetImage } from "./operations.ts";

const base = mkdtempSync(join(tmpdir(), "bunit-install-"));
afterAll(() => rmSync(base, { recursive: true, force: true }));

const UNITS: Record<string, string> = {
  "web.socket": "[Socket]\nListenStream=%t/web.sock\n[Install]\nWantedBy=sockets.target\n",
  "web.service": "[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target\nAlias=www.service\nAlso=web.socket\n",
  "tool.service": "[Service]\nExecStart=/bin/true\n",
  "getty@.service": "[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=getty.target\nDefaultInstance=tty1\n",
};

/** A fresh system: unit files in DIR/units, presets in DIR/system-preset. */
function system(presets: Record<string, string> = {}): { dir: string; units: string } {
  const dir = mkdtempSync(join(base, "sys-"));
  const units = join(dir, "units");
  mkdirSync(units, { recursive: true });
  for (const [n, t] of Object.entries(UNITS)) writeFileSync(join(units, n), t);
  if (Object.keys(presets).length) mkdirSync(join(dir, "system-preset"));
  for (const [n, t] of Object.entries(presets)) writeFileSync(join(dir, "system-preset", n), t);
  return { dir, units };
}
const opts = { host: TEST_HOST };

describe("first boot", () => {
  test("no preset files: every unit with install rules is enabled, with relative links, and the marker is left", () => {
    const { units } = system();
    const layout = installLayout([units]);
    expect(presetsApplied(layout)).toBe(false);
    const r = firstBoot(layout, opts)!;
    expect(r.errors).toEqual([]);
    expect(readlinkSync(join(units, "multi-user.target.wants/web.service"))).toBe("../web.service");
    expect(readlinkSync(join(units, "www.service"))).toBe("web.service");
    expect(readlinkSync(join(units, "sockets.target.wants/web.socket"))).toBe("../web.socket");
    expect(readlinkSync(join(units, "getty.target.wants/getty@tty1.service"))).toBe("../getty@.service");
    expect(existsSync(join(units, PRESET_MARKER))).toBe(true);
    expect(firstBoot(layout, opts)).toBeNull();
  });

  test("before it, is-enabled answers what it would do, writing nothing", () => {
    const { units } = system({ "50-x.preset": "enable web.socket\ndisable *\n" });
    const layout = installLayout([units]);
    expect(enablementStates(layout, ["web.socket", "web.service", "tool.service", "nope.service"], opts)).toEqual([
      "enabled",
      "disabled",
      "static",
      "not-found",
    ]);
    expect(existsSync(join(units, "sockets.target.wants"))).toBe(false);
  });

  test("after it, the loader reads the links", () => {
    const { units } = system({ "50-x.preset": "enable web.socket\ndisable *\n" });
    firstBoot(installLayout([units]), opts);
    const loader = new UnitLoader([units], TEST_HOST);
    expect(loader.load("sockets.target").dirWants).toEqual(["web.socket"]);
    expect(loader.load("multi-user.target").dirWants).toEqual([]);
  });

  test("a first enable applies the presets before its own change", () => {
    const { units } = system();
    const layout = installLayout([units]);
    const r = changeEnablement("disable", layout, ["web.service"], opts);
    expect(r.errors).toEqual([]);
    expect(presetsApplied(layout)).toBe(true);
    // web.service and its Also= socket went; the getty default instance stayed enabled.
    expect(enablementStates(layout, ["web.service", "web.socket", "getty@.service"], opts)).toEqual(["disabled", "disabled", "enabled"]);
  });
});

describe("enable, disable, reenable, preset", () => {
  test("round trip with is-enabled", () => {
    const { units } = system({ "90-off.preset": "disable *\n" });
    const layout = installLayout([units]);
    presetAll(layout, opts);
    expect(enablementStates(layout, ["web.service", "www.service"], opts)).toEqual(["disabled", "not-found"]);
    const e = changeEnablement("enable", layout, ["web.service"], opts);
    expect(e.lines).toEqual([
      `Created symlink '${units}/multi-user.target.wants/web.service' → '${units}/web.service'.`,
      `Created symlink '${units}/www.service' → '${units}/web.service'.`,
      `Created symlink '${units}/sockets.target.wants/web.socket' → '${units}/web.socket'.`,
    ]);
    expect(enablementStates(layout, ["web.service", "www.service", "web.socket"], opts)).toEqual(["enabled", "alias", "enabled"]);
    const re = changeEnablement("reenable", layout, ["web.service"], opts);
    expect(re.errors).toEqual([]);
    expect(enablementStates(layout, ["web.service"], opts)).toEqual(["enabled"]);
    const d = changeEnablement("disable", layout, ["web.service"], opts);
    expect(d.lines.length).toBe(3);
    expect(enablementStates(layout, ["web.service", "web.socket"], opts)).toEqual(["disabled", "disabled"]);
    expect(existsSync(join(units, "www.service"))).toBe(false);
    const p = changeEnablement("preset", layout, ["web.socket"], opts);
    expect(p.lines).toEqual([]); // preset says disable: nothing to remove
  });

  test("a masked unit cannot be enabled; a conflicting link needs --force", () => {
    const { units } = system({ "90-off.preset": "disable *\n" });
    const layout = installLayout([units]);
    presetAll(layout, opts);
    symlinkSync("/dev/null", join(units, "tool2.service"));
    expect(changeEnablement("enable", layout, ["tool2.service"], opts).errors).toEqual(["Unit file tool2.service is masked."]);
    expect(enablementStates(layout, ["tool2.service"], opts)).toEqual(["masked"]);
    symlinkSync("tool.service", join(units, "www.service"));
    const c = changeEnablement("enable", layout, ["web.service"], opts);
    expect(c.errors[0]).toContain("already exists");
    expect(existsSync(join(units, "multi-user.target.wants"))).toBe(false); // nothing done on error
    expect(changeEnablement("enable", layout, ["web.service"], { ...opts, force: true }).errors).toEqual([]);
    expect(readlinkSync(join(units, "www.service"))).toBe("web.service");
  });

  test("--runtime writes under /run and is enabled-runtime", () => {
    const root = mkdtempSync(join(base, "root-"));
    mkdirSync(join(root, "etc/bunit/units"), { recursive: true });
    for (const [n, t] of Object.entries(UNITS)) writeFileSync(join(root, "etc/bunit/units", n), t);
    const layout = installLayout(["/etc/bunit/units", "/run/bunit/units", "/usr/lib/bunit/units"], root);
    presetImage(layout, ["disable *"], opts);
    const r = changeEnablement("enable", layout, ["web.socket"], { ...opts, runtime: true });
    expect(r.errors).toEqual([]);
    expect(lstatSync(join(root, "run/bunit/units/sockets.target.wants/web.socket")).isSymbolicLink()).toBe(true);
    expect(enablementStates(layout, ["web.socket"], opts)).toEqual(["enabled-runtime"]);
  });
});

describe("details", () => {
  test("[Install] specifiers are expanded for the instance enabled; a template target takes the instance", () => {
    const { units } = system({ "90-off.preset": "disable *\n" });
    writeFileSync(join(units, "x@.service"), "[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=y@%i.target\nDefaultInstance=a\n");
    const layout = installLayout([units]);
    presetAll(layout, opts);
    expect(changeEnablement("enable", layout, ["x@.service", "x@b.service"], opts).errors).toEqual([]);
    expect(readlinkSync(join(units, "y@a.target.wants/x@a.service"))).toBe("../x@.service");
    expect(readlinkSync(join(units, "y@b.target.wants/x@b.service"))).toBe("../x@.service");
  });

  test("disable removes links of a unit whose file is gone", () => {
    const { units } = system();
    const layout = installLayout([units]);
    firstBoot(layout, opts);
    rmSync(join(units, "web.socket"));
    expect(enablementStates(layout, ["web.socket"], opts)).toEqual(["not-found"]);
    const r = changeEnablement("disable", layout, ["web.socket"], opts);
    expect(r).toEqual({ lines: [`Removed '${join(units, "sockets.target.wants/web.socket")}'.`], errors: [], warnings: [] });
  });
});

describe("images", () => {
  test("board presets go to a preset file in the root; links are relative inside the image", () => {
    const root = mkdtempSync(join(base, "img-"));
    const etcUnits = join(root, "etc/bunit/units");
    mkdirSync(etcUnits, { recursive: true });
    for (const [n, t] of Object.entries(UNITS)) writeFileSync(join(etcUnits, n), t);
    const layout = installLayout(["/etc/bunit/units", "/run/bunit/units", "/usr/lib/bunit/units"], root);
    const r = presetImage(layout, ["enable web.socket", "disable *"], opts);
    expect(r.errors).toEqual([]);
    expect(readFileSync(join(root, "etc/bunit/system-preset/50-board.preset"), "utf8")).toContain("enable web.socket\ndisable *\n");
    expect(readlinkSync(join(etcUnits, "sockets.target.wants/web.socket"))).toBe("../web.socket");
    expect(existsSync(join(etcUnits, "multi-user.target.wants"))).toBe(false);
    expect(existsSync(join(etcUnits, PRESET_MARKER))).toBe(true);
    // An absolute link made inside the image counts as pointing into the image.
    mkdirSync(join(etcUnits, "custom.target.wants"));
    symlinkSync("/etc/bunit/units/web.service", join(etcUnits, "custom.target.wants/web.service"));
    expect(enablementStates(layout, ["web.service"], opts)).toEqual(["enabled"]);
  });
});
