import { afterAll, afterEach, beforeAll, describe, expect, spyOn, test } from "bun:test";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { runVerify } from "./verify.ts";

let base = "";
let root = "";

/** Writes files under root (content, or an executable with "#!"). */
function put(files: Record<string, string>): void {
  for (const [p, text] of Object.entries(files)) {
    const f = join(root, p);
    mkdirSync(dirname(f), { recursive: true });
    writeFileSync(f, text);
    if (text.startsWith("#!")) chmodSync(f, 0o755);
  }
}

/** runVerify with its output captured. */
function verify(...args: string[]): { code: number; out: string[] } {
  const out: string[] = [];
  const log = spyOn(console, "log").mockImplementation((s: string) => void out.push(...String(s).split("\n")));
  const err = spyOn(console, "error").mockImplementation((s: string) => void out.push(String(s)));
  try {
    return { code: runVerify(args), out };
  } finally {
    log.mockRestore();
    err.mockRestore();
  }
}

const LOOPBACK_TOML = '[[interfaces]]\nclass = "vendor"\nname = "x"\n[[interfaces.endpoints]]\nnumber = 1\ndirection = "out"\ntype = "bulk"\n';

beforeAll(() => {
  base = mkdtempSync(join(tmpdir(), "bunit-verify-root-"));
});
afterAll(() => rmSync(base, { recursive: true, force: true }));
afterEach(() => rmSync(root, { recursive: true, force: true }));

describe("bunit verify --root DIR (systemd-analyze verify --root=)", () => {
  test("the unit search path, drop-ins, executables and FunctionFS descriptions are all read inside the root", () => {
    root = mkdtempSync(join(base, "r-"));
    put({
      "usr/bin/tool": "#!/bin/sh\n",
      "usr/lib/x/data.toml": LOOPBACK_TOML,
      "etc/bunit/units/x.socket": "[Socket]\nListenUSBFunction=/run/ffs/x\nService=x.service\n",
      "etc/bunit/units/x.service": "[Service]\nExecStart=/usr/bin/tool\nUSBFunctionDescriptors=/etc/bunit/units/link.toml\n",
      "etc/bunit/units/x.service.d/10-pre.conf": "[Service]\nExecStartPre=/bin/tool --pre\n",
    });
    symlinkSync("/usr/lib/x/data.toml", join(root, "etc/bunit/units/link.toml")); // absolute: re-rooted
    symlinkSync("usr/bin", join(root, "bin"));
    const r = verify("--root", root, "x.socket", "x.service");
    expect(r.out.filter((l) => l.includes("error"))).toEqual([]);
    expect(r.code).toBe(0);
  });

  test("a broken reference names the unit file, the line and the directive; '-' commands are not checked", () => {
    root = mkdtempSync(join(base, "r-"));
    put({
      "usr/bin/tool": "#!/bin/sh\n",
      "usr/bin/plain": "not executable\n",
      "etc/bunit/units/y.socket": "[Socket]\nListenUSBFunction=/run/ffs/y\n",
      "etc/bunit/units/y.service":
        "[Service]\nExecStartPre=/usr/bin/tool\nExecStartPre=/usr/bin/missing a b\nExecStartPre=-/usr/bin/also-missing\nExecStart=/usr/bin/plain\nUSBFunctionDescriptors=/etc/y.toml\nEnvironmentFile=/etc/default/y\nEnvironmentFile=-/etc/default/optional\nWorkingDirectory=/srv/y\n",
      "etc/bunit/units/y.service.d/20.conf": "[Service]\nExecStopPost=sh -c true\n",
    });
    // The host has /bin/sh and /etc/passwd: an absolute link to them must not find them.
    symlinkSync("/bin/sh", join(root, "usr/bin/sh"));
    const svc = join(root, "etc/bunit/units/y.service");
    const r = verify("--root", root, "y.socket", "y.service");
    expect(r.code).toBe(1);
    const errors = r.out.filter((l) => l.includes(": error: "));
    expect(errors).toEqual([
      `${svc}:6: error: USBFunctionDescriptors=: /etc/y.toml: No such file or directory`,
      `${svc}:3: error: ExecStartPre=: Command /usr/bin/missing is not executable: No such file or directory`,
      `${svc}:5: error: ExecStart=: Command /usr/bin/plain is not executable: Permission denied`,
      `${join(root, "etc/bunit/units/y.service.d/20.conf")}:2: error: ExecStopPost=: Command sh is not executable: No such file or directory`,
      `${svc}:7: error: EnvironmentFile=: /etc/default/y: No such file or directory`,
      `${svc}:9: error: WorkingDirectory=: /srv/y: No such file or directory`,
    ]);
  });

  test("--units DIR are directories inside the root; unit files named on the command line are read where they are", () => {
    root = mkdtempSync(join(base, "r-"));
    put({ "usr/bin/tool": "#!/bin/sh\n", "opt/units/z.service": "[Service]\nExecStart=/usr/bin/tool\n" });
    expect(verify("--root", root, "--units", "/opt/units", "z.service").code).toBe(0);
    expect(verify("--root", root, "z.service").out).toContain("z.service: error: Unit not found in the search path");
    const outside = join(base, "outside");
    mkdirSync(outside, { recursive: true });
    writeFileSync(join(outside, "w.service"), "[Service]\nExecStart=/usr/bin/tool\n");
    expect(verify(`--root=${root}`, join(outside, "w.service")).code).toBe(0);
    writeFileSync(join(outside, "w.service"), "[Service]\nExecStart=/usr/bin/nope\n");
    expect(verify(`--root=${root}`, join(outside, "w.service")).out).toEqual([
      `${join(outside, "w.service")}:2: error: ExecStart=: Command /usr/bin/nope is not executable: No such file or directory`,
    ]);
  });

  test("without a root the host's files are checked; bad options are refused", () => {
    root = mkdtempSync(join(base, "r-"));
    put({ "h.service": "[Service]\nExecStart=/bin/sh -c true\n", "n.service": "[Service]\nExecStart=/nonexistent/bunit-x\n" });
    expect(verify(join(root, "h.service")).code).toBe(0);
    expect(verify(join(root, "n.service")).out).toEqual([
      `${join(root, "n.service")}:2: error: ExecStart=: Command /nonexistent/bunit-x is not executable: No such file or directory`,
    ]);
    expect(verify("--root").code).toBe(2);
    expect(verify("--root", join(root, "missing"), "h.service")).toEqual({
      code: 1,
      out: [`bunit verify: --root ${join(root, "missing")}: No such directory`],
    });
    expect(verify("--root-map", join(root, "missing.toml"), "h.service").code).toBe(1);
  });
});
