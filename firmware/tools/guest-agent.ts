/**
 * The guest side of the test channel: newline-delimited JSON requests on a virtio-serial port,
 * one JSON response line each. Runs inside bunit images (bunit.agent=1, started by /init);
 * the host side is scripts/lib/qemu.ts.
 *
 *   {"id":1,"op":"run","argv":["sh","-c","..."],"timeoutMs":5000,"stdin":"<base64>"}
 *     -> {"id":1,"code":0,"signal":null,"stdout":"<base64>","stderr":"<base64>","ms":12}
 *   {"id":2,"op":"write","path":"/tmp/x","data":"<base64>","mode":420} -> {"id":2,"ok":true}
 *   {"id":3,"op":"read","path":"/tmp/x"} -> {"id":3,"data":"<base64>"}
 *   {"id":4,"op":"ping"} -> {"id":4,"ok":true,"uptime":"12.34"}
 *
 * Requests are handled concurrently; a failure is {"id":N,"error":"..."}.
 */
import { chmodSync, readFileSync, writeFileSync } from "node:fs";
import * as n from "../native.ts";
import { EPOLLIN, EPOLLOUT, O_NONBLOCK, O_RDWR } from "../sys/constants.ts";
import { errorText } from "../core/errors.ts";

const port = process.argv[2];
if (!port) throw new Error("usage: agent.ts PORT");
// A virtio port can be opened once: one non-blocking fd for both directions.
const fd = n.open(port, O_RDWR | O_NONBLOCK);
const b64 = (b: Uint8Array | string) => Buffer.from(b).toString("base64");

function reply(obj: unknown): void {
  const line = new Uint8Array(Buffer.from(JSON.stringify(obj) + "\n"));
  let off = 0;
  while (off < line.length) {
    const w = n.write(fd, line.subarray(off));
    if (w === null) n.pollOne(fd, EPOLLOUT, 1000);
    else off += w;
  }
}

async function handle(req: { id: number; op: string; [k: string]: unknown }): Promise<void> {
  try {
    switch (req.op) {
      case "ping":
        return reply({ id: req.id, ok: true, uptime: readFileSync("/proc/uptime", "utf8").split(" ")[0] });
      case "write":
        writeFileSync(req.path as string, Buffer.from(req.data as string, "base64"));
        if (typeof req.mode === "number") chmodSync(req.path as string, req.mode);
        return reply({ id: req.id, ok: true });
      case "read":
        return reply({ id: req.id, data: b64(readFileSync(req.path as string)) });
      case "run": {
        const t0 = performance.now();
        const p = Bun.spawn(req.argv as string[], {
          cwd: (req.cwd as string) ?? "/",
          env: { ...process.env, ...((req.env as Record<string, string>) ?? {}) },
          stdin: req.stdin ? Buffer.from(req.stdin as string, "base64") : "ignore",
          stdout: "pipe",
          stderr: "pipe",
        });
        const timer = req.timeoutMs ? setTimeout(() => p.kill("SIGKILL"), req.timeoutMs as number) : null;
        const [stdout, stderr] = await Promise.all([new Response(p.stdout).arrayBuffer(), new Response(p.stderr).arrayBuffer()]);
        await p.exited;
        if (timer) clearTimeout(timer);
        return reply({
          id: req.id,
          code: p.signalCode ? null : p.exitCode,
          signal: p.signalCode ?? null,
          stdout: b64(new Uint8Array(stdout)),
          stderr: b64(new Uint8Array(stderr)),
          ms: Math.round(performance.now() - t0),
        });
      }
      default:
        return reply({ id: req.id, error: `unknown op ${req.op}` });
    }
  } catch (e) {
    reply({ id: req.id, error: errorText(e) });
  }
}

let buf = "";
const chunk = new Uint8Array(65536);
const w = n.fdWatcher();
w.watch(fd, EPOLLIN, () => {
  for (;;) {
    let got: number | null;
    try {
      got = n.read(fd, chunk);
    } catch {
      got = null; // host side not connected yet
    }
    if (!got) break;
    buf += Buffer.from(chunk.subarray(0, got)).toString();
  }
  let nl: number;
  while ((nl = buf.indexOf("\n")) >= 0) {
    const line = buf.slice(0, nl).trim();
    buf = buf.slice(nl + 1);
    if (!line) continue;
    try {
      void handle(JSON.parse(line));
    } catch (e) {
      reply({ id: -1, error: `bad request: ${errorText(e)}` });
    }
  }
  w.arm(fd, EPOLLIN);
});
reply({ id: 0, ready: true });
