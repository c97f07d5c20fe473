import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, rmSync, writeFileSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { repoRoot } from "../../scripts/lib/paths.ts";
import { VERSION } from "../../firmware/version.ts";
import { unixListening, waitFor } from "../support/harness.ts";

const dir = mkdtempSync(join(tmpdir(), "bunit-cli-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const cli = join(repoRoot, "firmware", "cli.ts");

function writeUnits(units: Record<string, string>) {
  for (const [k, v] of Object.entries(units)) writeFileSync(join(dir, k), v.replaceAll("@DIR@", dir));
}

test("bunit --version", () => {
  const r = Bun.spawnSync([process.execPath, cli, "--version"]);
  expect(r.exitCode).toBe(0);
  expect(r.stdout.toString()).toBe(`bunit ${VERSION}\n`);
});

describe("bunit daemon", () => {
  test("serves activation, and SIGTERM stops every unit cleanly", async () => {
    writeUnits({
      "hold.socket": "[Socket]\nListenStream=@DIR@/hold.sock\nRemoveOnStop=yes\n[Install]\nWantedBy=sockets.target\n",
      "hold.service":
        "[Service]\nExecStart=/bin/sh -c 'echo $$$$ > @DIR@/hold.pid; exec sleep 60'\nExecStopPost=/bin/sh -c 'echo stopped > @DIR@/hold.stopped'\n",
      "broken.socket": "[Socket]\nListenStream=@DIR@/broken.sock\nBacklog=many\n[Install]\nWantedBy=sockets.target\n",
    });
    const p = Bun.spawn([process.execPath, cli, "daemon", "--units", dir, "--control", join(dir, "control")], {
      stdout: "pipe",
      stderr: "pipe",
      cwd: repoRoot,
    });
    // The file appears at bind(), a moment before listen(): wait for the listening socket.
    await waitFor(() => unixListening(join(dir, "hold.sock")), 10000, "hold.sock listening");
    const c = await Bun.connect({ unix: join(dir, "hold.sock"), socket: { data() {} } });
    await waitFor(() => existsSync(join(dir, "hold.pid")), 5000, "service started");
    const pid = Number(readFileSync(join(dir, "hold.pid"), "utf8"));
    expect(() => process.kill(pid, 0)).not.toThrow();
    p.kill("SIGTERM");
    expect(await p.exited).toBe(0);
    const err = await new Response(p.stderr).text();
    expect(err).toContain(`bunit ${p.pid} starting (${VERSION})`);
    expect(err).toContain("Received SIGTERM, stopping all units.");
    expect(err).toContain("All units stopped. Exiting.");
    // The bad unit was refused with file, line and directive, and did not stop the others.
    expect(err).toContain(`${join(dir, "broken.socket")}:3: error: Backlog=: "many" is not an unsigned integer`);
    expect(() => process.kill(pid, 0)).toThrow();
    expect(readFileSync(join(dir, "hold.stopped"), "utf8")).toBe("stopped\n");
    expect(existsSync(join(dir, "hold.sock"))).toBe(false);
    c.end();
  }, 30000);
});

describe("bunit verify", () => {
  test("prints file:line: level: Directive=: message and exits 1 on errors", async () => {
    writeUnits({
      "v.socket": "[Socket]\nListenStream=/run/v.sock\nAccept=yes\nListenDatagram=127.0.0.1:53\nMaxConnections=0\nFooBar=1\n",
      "v@.service": "[Service]\nExecStart=/bin/cat\nStandardInput=socket\nProtectSystem=strict\n",
    });
    const r = Bun.spawnSync([process.execPath, cli, "verify", join(dir, "v.socket"), join(dir, "v@.service")], { cwd: repoRoot });
    const out = r.stdout.toString();
    expect(r.exitCode).toBe(1);
    expect(out).toContain(`${join(dir, "v.socket")}:6: warning: FooBar=: Unknown key name 'FooBar' in section 'Socket', ignoring.`);
    expect(out).toContain("error: Accept=: Unit configured for accepting sockets, but sockets are non-accepting (127.0.0.1:53). Refusing.");
    expect(out).toContain("error: MaxConnections=: MaxConnections= setting too small. Refusing.");
    expect(out).toContain(`${join(dir, "v@.service")}:4: notice: ProtectSystem=: not supported by bunit, ignoring`);
    const ok = Bun.spawnSync([process.execPath, cli, "verify", "--quiet", join(dir, "v@.service")], { cwd: repoRoot });
    expect(ok.exitCode).toBe(0);
    expect(ok.stdout.toString()).toBe("");
  });
});
