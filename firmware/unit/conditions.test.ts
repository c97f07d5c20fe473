import { describe, expect, test } from "bun:test";
import { type ConditionEnv, testCondition } from "./conditions.ts";

/** Only what the comparisons and globs read: 2 GiB, 4 CPUs, kernel 6.1.23-rt, host Board-7, ID=debian. */
const machine = {
  hostname: () => "Board-7",
  osRelease: () => ({ ID: "debian" }),
  memoryBytes: () => 2 * 1024 ** 3,
  cpus: () => 4,
  kernelRelease: () => "6.1.23-rt",
} as unknown as ConditionEnv;
const t = (kind: string, value: string) => testCondition({ kind, value, negate: false, trigger: false, assert: false, file: "u", line: 1 }, machine);

describe("comparisons without an operator", () => {
  test("ConditionMemory= and ConditionCPUs= mean at least (>=), as systemd's condition_test_memory()/_cpus()", () => {
    expect(["2G", "2048M", "1G", "3G", "2147483648"].map((v) => t("Memory", v))).toEqual([true, true, true, false, true]);
    expect(["4", "1", "5"].map((v) => t("CPUs", v))).toEqual([true, true, false]);
  });
  test("ConditionKernelVersion= without an operator is a glob", () => {
    expect(["6.1.*", "6.1.23-rt", "6.2*", "6.1"].map((v) => t("KernelVersion", v))).toEqual([true, true, false, false]);
  });
});

describe("globs as systemd's fnmatch() calls", () => {
  test("KernelVersion= and OSRelease= $=: flags 0, so [!...] negates and a backslash quotes", () => {
    expect(["[!5].*", "[!6].*", "6.1.23\\-rt", "6.1.23-r[s-u]"].map((v) => t("KernelVersion", v))).toEqual([true, false, true, true]);
    expect(["ID$=deb[!x]an", "ID$=deb[!i]an", "ID$=\\debian", "ID!$=[!d]*"].map((v) => t("OSRelease", v))).toEqual([true, false, true, true]);
  });
  test("Host=: FNM_CASEFOLD, host names have no case (condition_test_host())", () => {
    expect(["board-7", "BOARD-?", "b*7", "board-8"].map((v) => t("Host", v))).toEqual([true, true, true, false]);
  });
});

test("a size that does not parse fails the condition with any operator, != included", () => {
  expect(["!=x", "!= ", ">=2Gx", "x"].map((v) => t("Memory", v))).toEqual([false, false, false, false]);
});
