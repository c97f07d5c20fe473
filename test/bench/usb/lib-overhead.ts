/**
 * The library's own cost per AIO request, without USB: FunctionFs over /dev/zero (the "OUT"
 * endpoint, read) and /dev/null (the "IN" endpoint, written), whose AIO requests complete at
 * once, so the rate and the CPU time per request measure the library's per-request work (submit, completion through
 * the eventfd and the fd watcher, promises, copies). Same loops as ts-sink-source.ts.
 *   bun test/bench/usb/lib-overhead.ts [SIZE] [DEPTH] [SECONDS]
 */
import * as n from "../../../firmware/native.ts";
import { O_RDONLY, O_WRONLY } from "../../../firmware/sys/constants.ts";
import { FakeEp0 } from "../../../firmware/usb/ep0-fake.ts";
import { FunctionFs } from "../../../firmware/usb/functionfs.ts";

const SIZE = Number(process.argv[2] ?? 16384);
const DEPTH = Number(process.argv[3] ?? 4);
const SECONDS = Number(process.argv[4] ?? 2);
const [r] = n.pipe();
const f = new FunctionFs({
  ep0: r,
  endpoints: [n.open("/dev/zero", O_RDONLY), n.open("/dev/null", O_WRONLY)],
  watcher: n.fdWatcher(),
  ep0Io: new FakeEp0(),
  initialState: "enabled",
  aioCompletions: process.env.COMPLETIONS === "watcher" ? "watcher" : "loop",
});

async function sink(): Promise<number> {
  let bytes = 0;
  const stop = performance.now() + SECONDS * 1000;
  for await (const c of f.endpoint(1).reader({ size: SIZE, depth: DEPTH, views: process.env.VIEWS === "1" })) {
    bytes += c.length;
    if (performance.now() > stop) break;
  }
  return bytes;
}

async function source(): Promise<number> {
  const ep = f.endpoint(2);
  const buf = new Uint8Array(SIZE).fill(0xa5);
  let bytes = 0;
  const stop = performance.now() + SECONDS * 1000;
  while (performance.now() < stop) {
    await ep.send(buf, DEPTH);
    bytes += SIZE;
  }
  await ep.drain();
  return bytes;
}

for (const [name, run] of [
  ["read (OUT)", sink],
  ["write (IN)", source],
] as const) {
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  const bytes = await run();
  const s = (performance.now() - t0) / 1000;
  const c = process.cpuUsage(c0);
  const cpuPerReq = (c.user + c.system) / (bytes / SIZE);
  console.log(`${name}: ${(bytes / SIZE / s) | 0} requests/s, ${cpuPerReq.toFixed(2)} us CPU per request (${SIZE} B x ${DEPTH})`);
}
f.close();
process.exit(0);
