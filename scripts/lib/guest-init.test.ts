import { describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseBoardConfig } from "./board-config.ts";
import { daemonArgs, initScript, supervisor } from "./guest-init.ts";
import { repoRoot } from "./paths.ts";

const board = (name: string) => parseBoardConfig(readFileSync(join(repoRoot, "board-configs", `${name}.toml`), "utf8"), `${name}.toml`);

describe("the image's /init", () => {
  test("is valid busybox sh for every board; the Pi keeps a shell on its console", async () => {
    for (const name of ["qemu-x86_64", "qemu-aarch64", "raspberrypi-zero2w"]) {
      const p = Bun.spawn(["busybox", "sh", "-n"], { stdin: new TextEncoder().encode(initScript(board(name))), stderr: "pipe" });
      expect(await p.exited).toBe(0);
    }
    expect(initScript(board("raspberrypi-zero2w"))).toContain("setsid -c sh </dev/console");
    expect(initScript(board("qemu-x86_64"))).not.toContain("setsid -c sh </dev/console");
  });

  test("the daemon's options carry the board's hardware watchdog", () => {
    const b = board("qemu-x86_64");
    expect(daemonArgs(b)).toEqual(["bunit", "daemon", "--units", "/etc/bunit/units"]);
    expect(daemonArgs({ ...b, watchdog: { device: "/dev/watchdog0", sec: 20 } })).toEqual([
      "bunit",
      "daemon",
      "--units",
      "/etc/bunit/units",
      "--watchdog",
      "/dev/watchdog0",
      "--watchdog-sec",
      "20",
    ]);
  });

  test("supervise restarts a dying daemon with a doubling back-off and says how it ended", async () => {
    const dir = mkdtempSync(join(tmpdir(), "bunit-init-"));
    const count = join(dir, "count");
    writeFileSync(count, "");
    // The "daemon": the first run exits 3, the second is killed by SIGKILL, the third stays.
    const fake = `sh -c 'echo x >> ${count}; n=$(wc -l < ${count}); [ $n = 1 ] && exit 3; [ $n = 2 ] && kill -KILL $$; exec sleep 30'`;
    const script = `stopping=\n${supervisor(fake)}\nstart_daemon\nsupervise\n`;
    const p = Bun.spawn(["busybox", "sh", "-c", script], { stdout: "pipe", stderr: "ignore" });
    let out = "";
    const dec = new TextDecoder();
    const deadline = Date.now() + 20_000;
    for await (const chunk of p.stdout) {
      out += dec.decode(chunk);
      if ((out.match(/restarted/g) ?? []).length >= 2 || Date.now() > deadline) break;
    }
    p.kill("SIGKILL");
    // The third run (exec sleep 30), by the pid the supervisor printed.
    const last = [...out.matchAll(/restarted \(pid (\d+)\)/g)].at(-1);
    if (last) process.kill(Number(last[1]), "SIGKILL");
    rmSync(dir, { recursive: true, force: true });
    const lines = out.trim().split("\n");
    expect(lines[0]).toMatch(/^bunit-init: bunit daemon \(pid \d+\) exited with status 3 after 0 s; restarting it in 1 s$/);
    expect(lines[1]).toMatch(/^bunit-init: bunit daemon restarted \(pid \d+\)$/);
    expect(lines[2]).toMatch(/^bunit-init: bunit daemon \(pid \d+\) was killed by signal KILL after [01] s; restarting it in 2 s$/);
    expect(lines[3]).toMatch(/^bunit-init: bunit daemon restarted/);
  }, 30_000);
});
