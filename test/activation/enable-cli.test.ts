/**
 * bunit enable/disable/reenable/is-enabled/preset on a unit directory, and what the daemon makes
 * of the links: exit codes as systemctl's, Alias= and Also=, a template with DefaultInstance=,
 * and a running daemon told to reload (and --now to start or stop).
 */
import { afterAll, afterEach, describe, expect, test } from "bun:test";
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runInstall, type InstallCommand } from "../../firmware/commands/install.ts";
import { repoRoot } from "../../scripts/lib/paths.ts";
import { TestDaemon, unixListening, waitFor } from "../support/harness.ts";

const UNITS: Record<string, string> = {
  "web.socket": "[Socket]\nListenStream=@DIR@/web.sock\n[Install]\nWantedBy=sockets.target\n",
  "web.service":
    "[Service]\nExecStart=/bin/sh -c 'echo web >> @DIR@/ran; exec sleep 60'\n[Install]\nWantedBy=multi-user.target\nAlias=www.service\nAlso=web.socket\n",
  "tool.service": "[Service]\nType=oneshot\nExecStart=/bin/true\n",
  "tick@.service":
    "[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/bin/sh -c 'echo %i >> @DIR@/ran'\n[Install]\nWantedBy=multi-user.target\nDefaultInstance=one\n",
  // Presets beside the unit directory (TestDaemon writes under DIR/units): nothing enabled by default.
  "../system-preset/90-off.preset": "disable *\n",
};

async function bunit(verb: InstallCommand, ...args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const code = await runInstall(verb, args, { out: (t) => void (out += t), err: (t) => void (err += t) });
  return { code, out, err };
}

const ran = (d: TestDaemon) => (existsSync(d.path("ran")) ? readFileSync(d.path("ran"), "utf8").trim().split("\n") : []);

let d: TestDaemon | null = null;
afterEach(async () => {
  await d?.stop();
  d = null;
});

/** A daemon that has not booted yet, on a directory where presets disable everything. */
async function fresh(): Promise<{ d: TestDaemon; units: string; boot: () => Promise<void> }> {
  d = await TestDaemon.start(UNITS, { boot: false });
  const t = d;
  return {
    d: t,
    units: t.path("units"),
    boot: async () => {
      t.manager.reloadUnits();
      expect(await t.manager.boot()).toBe("done");
    },
  };
}

describe("is-enabled, enable, disable: states and exit codes", () => {
  test("systemctl's words and exit codes (0 enabled-like, 1 not, 4 not found)", async () => {
    const { units } = await fresh();
    const u = ["--units", units];
    expect(await bunit("is-enabled", ...u, "web.service")).toEqual({ code: 1, out: "disabled\n", err: "" });
    expect(await bunit("is-enabled", ...u, "web")).toEqual({ code: 1, out: "disabled\n", err: "" }); // NAME is NAME.service
    expect(await bunit("is-enabled", ...u, "tool.service")).toEqual({ code: 0, out: "static\n", err: "" });
    expect(await bunit("is-enabled", ...u, "nope.service")).toEqual({ code: 4, out: "not-found\n", err: "" });
    expect((await bunit("is-enabled", ...u, "-q", "nope.service", "web.service")).code).toBe(1);
    expect(await bunit("is-enabled", ...u, "-q", "web.service", "tool.service")).toEqual({ code: 0, out: "", err: "" });
    symlinkSync("/dev/null", join(units, "masked.service"));
    expect(await bunit("is-enabled", ...u, "masked.service")).toEqual({ code: 1, out: "masked\n", err: "" });

    const e = await bunit("enable", ...u, "--no-reload", "web.service");
    expect(e.code).toBe(0);
    expect(e.err).toContain(`Created symlink '${units}/multi-user.target.wants/web.service' → '${units}/web.service'.`);
    expect(await bunit("is-enabled", ...u, "web.service", "www.service", "web.socket")).toEqual({ code: 0, out: "enabled\nalias\nenabled\n", err: "" });

    expect((await bunit("enable", ...u, "--no-reload", "nope.service")).err).toContain("Unit file nope.service does not exist.");
    expect((await bunit("enable", ...u, "--no-reload", "nope.service")).code).toBe(1);
    expect((await bunit("enable", ...u, "--no-reload", "masked.service")).code).toBe(1);
    const st = await bunit("enable", ...u, "--no-reload", "tool.service");
    expect(st.code).toBe(0);
    expect(st.err).toContain("no installation config");
    expect((await bunit("enable", ...u)).code).toBe(2);
    expect((await bunit("enable", ...u, "--bogus", "web.service")).code).toBe(2);

    const dis = await bunit("disable", ...u, "--no-reload", "web.service");
    expect(dis.code).toBe(0);
    expect(dis.err.split("\n").filter((l) => l.startsWith("Removed")).length).toBe(3);
    expect((await bunit("is-enabled", ...u, "web.service", "web.socket")).out).toBe("disabled\ndisabled\n");
  });
});

describe("what the daemon makes of the links", () => {
  test("Alias= and Also=: enabling the service enables its socket; the alias names the same unit", async () => {
    const t = await fresh();
    await t.boot();
    expect(t.d.sub("web.socket")).toBe("dead");
    expect((await bunit("enable", "--units", t.units, "--no-reload", "web.service")).code).toBe(0);
    expect(lstatSync(join(t.units, "www.service")).isSymbolicLink()).toBe(true);
    await t.boot();
    expect(t.d.sub("web.socket")).toBe("running");
    await t.d.waitState("web.service", "running");
    expect(t.d.manager.unit("www.service")).toBe(t.d.manager.unit("web.service"));
  });

  test("a template with DefaultInstance=: enabling it enables that instance; other instances by name", async () => {
    const t = await fresh();
    expect((await bunit("enable", "--units", t.units, "--no-reload", "tick@.service")).code).toBe(0);
    expect(existsSync(join(t.units, "multi-user.target.wants/tick@one.service"))).toBe(true);
    await t.boot();
    await t.d.waitState("tick@one.service", "exited");
    expect(ran(t.d)).toEqual(["one"]);
    expect((await bunit("enable", "--units", t.units, "--no-reload", "tick@two.service")).code).toBe(0);
    expect((await bunit("is-enabled", "--units", t.units, "tick@.service", "tick@two.service", "tick@three.service")).out).toBe("enabled\nenabled\ndisabled\n");
    await t.boot();
    await t.d.waitState("tick@two.service", "exited");
    expect(ran(t.d).sort()).toEqual(["one", "two"]);
    // Disabling the template removes every instance's link.
    expect((await bunit("disable", "--units", t.units, "--no-reload", "tick@.service")).code).toBe(0);
    expect((await bunit("is-enabled", "--units", t.units, "tick@.service", "tick@two.service")).out).toBe("disabled\ndisabled\n");
  });

  test("preset follows the preset files; reenable restores the [Install] links", async () => {
    const t = await fresh();
    writeFileSync(join(t.d.dir, "system-preset", "10-web.preset"), "enable web.socket\n");
    expect((await bunit("preset", "--units", t.units, "--no-reload", "web.socket", "web.service")).code).toBe(0);
    expect((await bunit("is-enabled", "--units", t.units, "web.socket", "web.service")).out).toBe("enabled\ndisabled\n");
    rmSync(join(t.units, "sockets.target.wants"), { recursive: true });
    expect((await bunit("reenable", "--units", t.units, "--no-reload", "web.socket")).code).toBe(0);
    expect((await bunit("is-enabled", "--units", t.units, "web.socket")).out).toBe("enabled\n");
  });
});

describe("a running bunit daemon", () => {
  const dir = mkdtempSync(join(tmpdir(), "bunit-enable-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const cli = join(repoRoot, "firmware", "cli.ts");

  test("enable --now reloads the daemon and starts the unit; disable --now stops it", async () => {
    const units = join(dir, "units");
    mkdirSync(units);
    mkdirSync(join(dir, "system-preset"));
    for (const [n, text] of Object.entries(UNITS)) writeFileSync(join(units, n), text.replaceAll("@DIR@", dir));
    const control = join(dir, "control");
    const p = Bun.spawn([process.execPath, cli, "daemon", "--units", units, "--control", control, "--log-target", "none"], {
      stdout: "ignore",
      stderr: "pipe",
      cwd: repoRoot,
    });
    try {
      await waitFor(() => unixListening(control), 10000, "the control socket");
      expect(existsSync(join(dir, "web.sock"))).toBe(false); // disabled by the preset
      const e = await bunit("enable", "--units", units, "--socket", control, "--now", "web.socket");
      expect(e).toMatchObject({ code: 0 });
      await waitFor(() => unixListening(join(dir, "web.sock")), 5000, "web.sock listening");
      const dis = await bunit("disable", "--units", units, "--socket", control, "--now", "web.socket");
      expect(dis).toMatchObject({ code: 0 });
      await waitFor(() => !unixListening(join(dir, "web.sock")), 5000, "web.sock closed");
      // No daemon at that socket: the links change, --now fails.
      const gone = await bunit("enable", "--units", units, "--socket", join(dir, "nothing"), "--now", "web.socket");
      expect(gone.code).toBe(1);
      expect(gone.err).toContain("cannot reach the bunit daemon");
      expect((await bunit("enable", "--units", units, "--socket", join(dir, "nothing"), "web.socket")).code).toBe(0);
    } finally {
      p.kill("SIGTERM");
      expect(await p.exited).toBe(0);
    }
  }, 30000);
});
