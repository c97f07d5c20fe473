/**
 * Run inside a QEMU board (test/bench/run.ts, `startup-boards`): the shipped daemon
 * (/usr/lib/bunit/bunit.js) started with 100 Accept=no TCP sockets, five times; prints the
 * median time from exec until all 100 listen (one read of /proc/net/tcp per millisecond) as
 * the last stdout line, JSON {"ms": ...}.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { allListening } from "./listening.ts";

const ROUNDS = 5;
const ports = Array.from({ length: 100 }, (_, i) => 20000 + i);
const dir = mkdtempSync("/tmp/bench-startup-");
for (const [i, p] of ports.entries()) {
  writeFileSync(join(dir, `s${i}.socket`), `[Socket]\nListenStream=127.0.0.1:${p}\n[Install]\nWantedBy=sockets.target\n`);
  writeFileSync(join(dir, `s${i}.service`), "[Service]\nExecStart=/bin/true\n");
}
const times: number[] = [];
for (let r = 0; r < ROUNDS; r++) {
  const t0 = performance.now();
  const d = Bun.spawn(["/usr/bin/bun", "/usr/lib/bunit/bunit.js", "daemon", "--units", dir, "--control", join(dir, `control-${r}`), "--log-level", "warning"], {
    stdout: "ignore",
    stderr: "inherit",
  });
  const deadline = t0 + 60_000;
  while (!allListening(ports)) {
    if (performance.now() > deadline) throw new Error("the daemon's 100 sockets did not all listen within 60 s");
    await Bun.sleep(1);
  }
  times.push(performance.now() - t0);
  d.kill("SIGTERM");
  await d.exited;
}
times.sort((a, b) => a - b);
console.log(JSON.stringify({ ms: times[Math.floor(times.length / 2)], all: times }));
