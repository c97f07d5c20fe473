import { describe, expect, test } from "bun:test";
import { type ConditionEnv, evaluateConditions, testCondition } from "./conditions.ts";
import type { Condition } from "./unit-section.ts";

/** A machine with fixed facts: files under /x, kernel 6.1.23-rt, 2 GiB, 4 CPUs. */
function machine(over: Partial<ConditionEnv> = {}): ConditionEnv {
  const files: Record<string, { size: number; dir?: string[]; link?: boolean; exec?: boolean; mount?: boolean; rw?: boolean }> = {
    "/x/file": { size: 3, exec: true, rw: true },
    "/x/empty": { size: 0 },
    "/x/data": { size: 5 },
    "/x/dir": { size: 0, dir: ["a"], mount: true },
    "/x/hidden": { size: 0, dir: [".a", ".b"] },
    "/x/none": { size: 0, dir: [] },
    "/x/link": { size: 0, link: true },
  };
  return {
    exists: (p) => p in files,
    isDirectory: (p) => files[p]?.dir !== undefined,
    isSymlink: (p) => files[p]?.link === true,
    isExecutable: (p) => files[p]?.exec === true,
    fileSize: (p) => files[p]?.size ?? null,
    dirEntries: (p) => files[p]?.dir ?? null,
    isMountPoint: (p) => files[p]?.mount === true,
    isReadWrite: (p) => files[p]?.rw === true,
    glob: (p) => p === "/x/f*",
    kernelCommandLine: () => "  quiet  console=ttyS0 debug=1 ",
    kernelRelease: () => "6.1.23-rt",
    architecture: () => "arm64",
    hostname: () => "board-7.example",
    machineId: () => "0123456789abcdef0123456789abcdef",
    env: (n) => ({ HOME: "/root", EMPTY: "" })[n],
    uid: () => 999,
    userName: () => "svc",
    groups: () => ["svc", "dialout"],
    virtualization: () => "kvm",
    memoryBytes: () => 2 * 1024 ** 3,
    cpus: () => 4,
    osRelease: () => ({ ID: "debian", VERSION_ID: "12.4" }),
    firstBoot: () => false,
    kernelModuleLoaded: (n) => n === "g_ffs",
    ...over,
  };
}
const cond = (kind: string, value: string, o: Partial<Condition> = {}): Condition => ({
  kind,
  value,
  negate: false,
  trigger: false,
  assert: false,
  file: "u",
  line: 1,
  ...o,
});
const t = (kind: string, value: string, env = machine()) => testCondition(cond(kind, value), env);
const all = (kind: string, values: string[], env = machine()) => values.map((v) => t(kind, v, env));

describe("file conditions", () => {
  test("paths", () => {
    expect(all("PathExists", ["/x/file", "/nope"])).toEqual([true, false]);
    expect(all("PathExistsGlob", ["/x/f*", "/y*"])).toEqual([true, false]);
    expect(all("PathIsDirectory", ["/x/dir", "/x/file"])).toEqual([true, false]);
    expect(all("PathIsSymbolicLink", ["/x/link", "/x/file"])).toEqual([true, false]);
    expect(all("PathIsMountPoint", ["/x/dir", "/x/file"])).toEqual([true, false]);
    expect(all("PathIsReadWrite", ["/x/file", "/x/dir"])).toEqual([true, false]);
    expect(all("FileIsExecutable", ["/x/file", "/x/empty"])).toEqual([true, false]);
  });

  test("non-empty directories and files; hidden entries do not count", () => {
    expect(all("DirectoryNotEmpty", ["/x/dir", "/x/hidden", "/x/none", "/nope"])).toEqual([true, false, false, false]);
    expect(all("FileNotEmpty", ["/x/file", "/x/data", "/x/empty", "/nope"])).toEqual([true, true, false, false]);
  });
});

describe("kernel and machine", () => {
  test("KernelCommandLine: a word, or a word's name before '='", () => {
    expect(all("KernelCommandLine", ["quiet", "console", "console=ttyS0", "console=tty", "debug=1", "debug", "qui", "deb", ""])).toEqual([
      true,
      true,
      true,
      false,
      true,
      true,
      false,
      false,
      false,
    ]);
  });

  test("KernelVersion: comparisons of version parts, or a glob", () => {
    const v = [
      "6.1.23-rt",
      "6.1.*",
      "6.?.23-rt",
      "6.1",
      ">=6.1",
      ">6.1.23",
      ">=6.1.23",
      "<6.2",
      "<=6.1.22",
      "<=6.1.23",
      "=6.1.23-rt",
      "!=6.1.23-rt",
      "<6.1.3",
      "> 6.1.9",
      ">6.1.23-aa",
      ">6.1.23-rt.1",
    ];
    // A release with a suffix is later than the release without it.
    expect(all("KernelVersion", v)).toEqual([true, true, true, false, true, true, true, true, false, false, true, false, false, true, true, false]);
    expect(t("KernelVersion", "6.1.23+rt", machine({ kernelRelease: () => "6.1.23+rt" }))).toBe(true);
    expect(t("KernelVersion", "6.1.23", machine({ kernelRelease: () => "6.1.(3)" }))).toBe(false);
    expect(t("KernelVersion", "6.1.(3)", machine({ kernelRelease: () => "6.1.(3)" }))).toBe(true);
    expect(t("KernelVersion", "a.b", machine({ kernelRelease: () => "axb" }))).toBe(false);
    // Parts that are not all digits compare as text, before or after numbers.
    const rc = machine({ kernelRelease: () => "6.1.0-rc1" });
    expect(all("KernelVersion", ["=6.1.0-rc1", "<6.1.0-rc2", ">6.1.0-rc0", "<6.1.0-1a", "!=6.1.0-rc1"], rc)).toEqual([true, true, true, false, false]);
    expect(all("KernelVersion", ["<6.1.rt", "<6.1-b", ">6.1-0"], machine({ kernelRelease: () => "6.1-a" }))).toEqual([true, true, true]);
    expect(t("KernelVersion", "<6.1.rt", machine({ kernelRelease: () => "6.1.23" }))).toBe(true);
    expect(t("KernelVersion", "=5.15a", machine({ kernelRelease: () => "5.15a" }))).toBe(true);
  });

  test("Architecture, Host (name glob or machine id)", () => {
    expect(all("Architecture", ["arm64", "native", "x86-64"])).toEqual([true, true, false]);
    expect(all("Host", ["oard-7.example", "board-7.exampl", "board-?.example"])).toEqual([false, false, true]);
    const hexName = machine({ hostname: () => "x0123456789abcdef0123456789abcdef" });
    expect(t("Host", "x0123456789abcdef0123456789abcdef", hexName)).toBe(true);
    expect(t("Host", "0123456789abcdef0123456789abcdefx", machine({ hostname: () => "0123456789abcdef0123456789abcdefx" }))).toBe(true);
    expect(all("Host", ["board-7.example", "board-*", "other", "0123456789abcdef0123456789abcdef", "fedcba9876543210fedcba9876543210"])).toEqual([
      true,
      true,
      false,
      true,
      false,
    ]);
  });

  test("Environment: set, or set to a value", () => {
    expect(all("Environment", ["HOME", "EMPTY", "NOPE", "HOME=/root", "HOME=/", "EMPTY=", "NOPE="])).toEqual([true, true, false, true, false, true, false]);
  });

  test("User and Group", () => {
    expect(all("User", ["@system", "999", "1000", "svc", "root"])).toEqual([true, true, false, true, false]);
    expect(t("User", "@system", machine({ uid: () => 1000 }))).toBe(false);
    expect(all("Group", ["dialout", "wheel"])).toEqual([true, false]);
    expect(all("User", ["1a", "a1"], machine({ userName: () => "1a" }))).toEqual([true, false]);
    expect(all("User", ["a1"], machine({ userName: () => "a1" }))).toEqual([true]);
  });

  test("Virtualization", () => {
    const virt = (kind: string, values: string[]) => all("Virtualization", values, machine({ virtualization: () => kind }));
    expect(virt("kvm", ["vm", "container", "yes", "no", "kvm", "qemu", "TRUE", "Off", "xyes", "yesx"])).toEqual([
      true,
      false,
      true,
      false,
      true,
      false,
      true,
      false,
      false,
      false,
    ]);
    expect(virt("none", ["xno", "nox"])).toEqual([false, false]);
    expect(virt("container", ["vm", "container", "yes"])).toEqual([false, true, true]);
    expect(virt("none", ["vm", "container", "yes", "no", "0"])).toEqual([false, false, false, true, true]);
  });

  test("Memory and CPUs: sizes with suffixes, every operator", () => {
    expect(all("Memory", [">=2G", ">2G", "<2G", "<=2G", "!=2G", "=2048M", ">1.5G", "<3G", ">=2147483648", "> 1G"])).toEqual([
      true,
      false,
      false,
      true,
      false,
      true,
      true,
      true,
      true,
      true,
    ]);
    expect(all("CPUs", [">3", "<4", "<=4", ">=5", "!=4", "=4", "=4K", "<1K"])).toEqual([true, false, true, false, false, true, false, true]);
    expect(all("Memory", [">=1.25G", ">=x2G", ">=2Gx", "<=2.5G"])).toEqual([true, false, false, true]);
    expect(t("Memory", " ")).toBe(false);
    expect(t("Memory", "")).toBe(false);
    // Without an operator: at least (systemd's default for these two).
    expect(all("Memory", ["2G", "1G", "3G", "2147483648"])).toEqual([true, true, false, true]);
    expect(all("CPUs", ["4", "3", "5"])).toEqual([true, true, false]);
    // A size that does not parse fails with every operator.
    expect(all("Memory", ["!=x", "<x", "x", "!=2Q"])).toEqual([false, false, false, false]);
  });

  test("FirstBoot, ACPower, NeedsUpdate, kernel modules", () => {
    expect(all("FirstBoot", ["no", "yes", "TRUE", "0", "xyes", "yesx"])).toEqual([true, false, false, true, true, true]);
    expect(all("FirstBoot", ["yes", "no"], machine({ firstBoot: () => true }))).toEqual([true, false]);
    expect(all("ACPower", ["true", "false"])).toEqual([true, true]);
    expect(t("NeedsUpdate", "/etc")).toBe(false);
    expect(all("KernelModuleLoaded", ["g_ffs", "usb_f_fs"])).toEqual([true, false]);
  });

  test("OSRelease: comparisons and globs of os-release fields", () => {
    expect(
      all("OSRelease", [
        "ID=debian",
        "ID = debian",
        "ID!=debian",
        "VERSION_ID>=12",
        "VERSION_ID<12.10",
        "VERSION_ID>12.4",
        "ID$=deb*",
        "ID!$=deb*",
        "ID$=fed*",
        "NOPE!=x",
        "id=debian",
        "ID~debian",
        "ID!$=fed*",
        "NOPE$=",
        "xID=debian",
      ]),
    ).toEqual([true, true, false, true, true, false, true, false, false, true, false, false, true, true, false]);
  });

  test("kinds bunit cannot evaluate", () => {
    expect(t("Security", "selinux")).toBeUndefined();
  });
});

describe("evaluating a list", () => {
  const env = machine();
  const yes = cond("PathExists", "/x/file");
  const no = cond("PathExists", "/nope");

  test("all plain conditions must hold; negation inverts", () => {
    expect(evaluateConditions([yes, cond("PathExists", "/nope", { negate: true })], env)).toEqual({ ok: true, unsupported: [] });
    expect(evaluateConditions([yes, no, cond("Security", "x")], env)).toEqual({ ok: false, failed: no, unsupported: [] });
    const negYes = cond("PathExists", "/x/file", { negate: true });
    expect(evaluateConditions([negYes], env)).toEqual({ ok: false, failed: negYes, unsupported: [] });
  });

  test("one triggering condition suffices; none holding fails on the first", () => {
    const t1 = cond("PathExists", "/nope", { trigger: true });
    const t2 = cond("PathExists", "/nope2", { trigger: true });
    const t3 = cond("PathExists", "/x/file", { trigger: true });
    expect(evaluateConditions([t1, t3, t2], env)).toEqual({ ok: true, unsupported: [] });
    expect(evaluateConditions([t1, t2], env)).toEqual({ ok: false, failed: t1, unsupported: [] });
    expect(evaluateConditions([t1, t2, yes], env)).toEqual({ ok: false, failed: t1, unsupported: [] });
  });

  test("unsupported conditions are listed and do not decide", () => {
    const u = cond("Security", "x");
    const ut = cond("Security", "y", { trigger: true });
    expect(evaluateConditions([u, yes, ut], env)).toEqual({ ok: true, unsupported: [u, ut] });
  });
});
