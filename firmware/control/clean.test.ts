import { describe, expect, test } from "bun:test";
import { cleanPaths, DEFAULT_CLEAN, isCleanWhat } from "./clean.ts";
import type { ExecContext } from "../unit/exec-context.ts";

const roots = { runtime: "/run", state: "/var/lib", cache: "/var/cache", logs: "/var/log", config: "/etc" };
const exec = {
  runtimeDirectory: ["r"],
  stateDirectory: ["s", "s2/sub"],
  cacheDirectory: ["c"],
  logsDirectory: ["l"],
  configurationDirectory: ["cf", "../escape"],
} as unknown as ExecContext;

describe("clean", () => {
  test("--what= kinds, systemctl's default (runtime, cache), all; a name leaving its root is never removed", () => {
    expect(cleanPaths(exec, roots, DEFAULT_CLEAN)).toEqual(["/run/r", "/var/cache/c"]);
    expect(cleanPaths(exec, roots, ["configuration"])).toEqual(["/etc/cf"]);
    expect(cleanPaths(exec, roots, ["logs", "state"])).toEqual(["/var/lib/s", "/var/lib/s2/sub", "/var/log/l"]);
    expect(cleanPaths(exec, roots, ["all"])).toEqual(["/run/r", "/var/lib/s", "/var/lib/s2/sub", "/var/cache/c", "/var/log/l", "/etc/cf"]);
    expect(cleanPaths(exec, roots, ["fdstore"])).toEqual([]);
    expect(isCleanWhat("logs")).toBe(true);
    expect(isCleanWhat("everything")).toBe(false);
  });
});
