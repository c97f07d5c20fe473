#!/usr/bin/env bun
/**
 * The main job (`npm start`): installs what the image build needs, builds the embedded default
 * board (qemu-x86_64, or BOARD), boots it under QEMU with the shipped units, and shows socket
 * activation inside it: a client connects to hello.socket, bunit starts hello.service, which
 * answers; then an Accept=yes connection to the echo socket. The guest's console is shown.
 *
 *   bun scripts/main-job.ts [BOARD] [--quiet-console]
 */
import { ensurePackages, HOST_PACKAGES } from "./setup-host.ts";
import { buildImage } from "./build-image.ts";
import { Guest } from "./lib/qemu.ts";

const args = process.argv.slice(2);
const board = args.find((a) => !a.startsWith("--")) ?? "qemu-x86_64";
const showConsole = !args.includes("--quiet-console");

await ensurePackages([...HOST_PACKAGES.native, ...HOST_PACKAGES.image]);
const img = await buildImage(board);
console.log(`\n== booting ${board}`);
const guest = await Guest.boot(img, { mode: "daemon", onConsole: showConsole ? (l) => console.log(`  [guest] ${l}`) : undefined });
try {
  await guest.waitConsole(/Reached default\.target/, 120000);
  console.log(`\n== ${board} is up (${guest.accel}); bunit listens:`);
  console.log(await guest.sh("netstat -ltnx 2>/dev/null | grep -E ':7 |:8080 |hello.sock' || true"));
  console.log("== a client connects to hello.socket (Accept=no): bunit starts hello.service");
  const t0 = performance.now();
  const hello = await guest.sh("nc 127.0.0.1 8080 </dev/null");
  console.log(`   reply after ${(performance.now() - t0).toFixed(0)} ms: ${hello.trim()}`);
  const again = await guest.sh("nc 127.0.0.1 8080 </dev/null");
  console.log(`   second connection, the same running service: ${again.trim()}`);
  console.log("== a client connects to echo.socket (Accept=yes): one echo@.service instance per connection");
  const echo = await guest.sh("echo 'hello, bunit' | nc 127.0.0.1 7");
  console.log(`   echoed: ${echo.trim()}`);
  if (!hello.startsWith("hello from bunit") || echo.trim() !== "hello, bunit") throw new Error("activation did not behave as expected");
  console.log(`\n== done: socket activation works in ${board}`);
} finally {
  await guest.shutdown();
}
