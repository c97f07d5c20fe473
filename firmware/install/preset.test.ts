import { describe, expect, test } from "bun:test";
import { orderPresetFiles, parsePresetFile, parsePresets, presetFor, type PresetFile } from "./preset.ts";

const file = (name: string, text: string | null, dir = "/etc/bunit/system-preset"): PresetFile => ({ name, path: `${dir}/${name}`, text });

describe("preset files", () => {
  test("directives, comments, instances", () => {
    const { rules, problems } = parsePresetFile(
      file("50-x.preset", "# comment\n; also a comment\n\nenable a.service\n  disable  b.*  \nignore c.socket\nenable d@.service one two\n"),
    );
    expect(problems).toEqual([]);
    expect(rules.map((r) => [r.action, r.pattern, r.instances, r.line])).toEqual([
      ["enable", "a.service", [], 4],
      ["disable", "b.*", [], 5],
      ["ignore", "c.socket", [], 6],
      ["enable", "d@.service", ["one", "two"], 7],
    ]);
  });

  test("bad lines are reported with file and line, and skipped", () => {
    const { rules, problems } = parsePresetFile(
      file("x.preset", "start a.service\nenable\ndisable d@.service x\nenable e.service x\nenable f@.service a/b\nenable ok.service\n"),
    );
    expect(rules.map((r) => r.pattern)).toEqual(["ok.service"]);
    expect(problems.map((p) => p.line)).toEqual([1, 2, 3, 4, 5]);
    expect(problems[0]!.message).toContain("unknown directive");
    expect(problems[0]!.file).toBe("/etc/bunit/system-preset/x.preset");
  });

  test("files sort by name across directories; the first directory's file of a name wins; /dev/null hides", () => {
    const etc = [file("90-site.preset", "disable *"), file("10-masked.preset", null), file("README", "x")];
    const lib = [
      file("10-masked.preset", "enable masked.service", "/usr/lib"),
      file("50-vendor.preset", "enable v.service", "/usr/lib"),
      file("90-site.preset", "enable *", "/usr/lib"),
    ];
    const ordered = orderPresetFiles([etc, lib]);
    expect(ordered.map((f) => f.path)).toEqual(["/usr/lib/50-vendor.preset", "/etc/bunit/system-preset/90-site.preset"]);
    const { rules } = parsePresets(ordered);
    expect(presetFor(rules, "v.service").action).toBe("enable");
    expect(presetFor(rules, "masked.service").action).toBe("disable");
    expect(presetFor(rules, "other.socket").action).toBe("disable");
  });

  test("first match wins; no match (or no files) enables", () => {
    const { rules } = parsePresets([file("a.preset", "enable echo.socket\ndisable *\nenable echo@.service\n")]);
    expect(presetFor(rules, "echo.socket")).toMatchObject({ action: "enable" });
    expect(presetFor(rules, "echo@.service")).toMatchObject({ action: "disable" });
    expect(presetFor([], "anything.service")).toEqual({ action: "enable", instances: [], rule: null });
    expect(presetFor(rules, "echo.socket").rule?.line).toBe(1);
  });

  test("a backslash in a pattern is a character of the name (FNM_NOESCAPE, as systemd's query_presets())", () => {
    const { rules } = parsePresets([file("a.preset", "disable dev-a\\x2db.mount\ndisable \\*.service\n")]);
    expect(presetFor(rules, "dev-a\\x2db.mount")).toMatchObject({ action: "disable" });
    expect(presetFor(rules, "dev-ax2db.mount")).toMatchObject({ action: "enable", rule: null });
    expect(presetFor(rules, "\\x2d.service")).toMatchObject({ action: "disable" });
  });
});
