/**
 * A seeded fuzzer for the sd_notify protocol against a real manager in this process: messages
 * built from every assignment the daemon knows (and junk), mutated, with and without fds, go
 *   - straight to Manager.notify() as if the service sent them (the protocol: parsing,
 *     NotifyAccess=, the fd store), and
 *   - as real datagrams through a NotifySocket (the transport: sizes past 4096 bytes, more fds
 *     than a message may carry, no text at all).
 * Properties: nothing throws, no fd is left behind beyond what the fd store may keep
 * (FileDescriptorStoreMax=), memory stays bounded, the service is still there.
 * MAINPID= only ever names the service itself or a pid above pid_max: the fuzzer runs as root
 * and must not make the daemon adopt (and later kill) a real process.
 *
 *   bun test test/robustness/fuzz-notify.test.ts     (CI's seeds)
 */
import { readdirSync, readFileSync } from "node:fs";
import { FakeClock } from "../../firmware/core/clock.ts";
import { NotifySocket } from "../../firmware/daemon/notify-socket.ts";
import * as n from "../../firmware/native.ts";
import type { ServiceUnit } from "../../firmware/service/service-unit.ts";
import * as C from "../../firmware/sys/constants.ts";
import { TestDaemon, waitFor } from "../support/harness.ts";
import { Rng } from "./fuzz.ts";

export const FD_STORE_MAX = 8;
const POLLIN = 1;

export const UNITS = {
  "fz.service": `[Unit]\nStartLimitIntervalSec=0\n[Service]\nExecStart=/bin/sleep 600\nNotifyAccess=all\nFileDescriptorStoreMax=${FD_STORE_MAX}\nRestart=always\nRestartSec=10ms\n`,
};

const pidMax = Number(readFileSync("/proc/sys/kernel/pid_max", "utf8"));
export const fdCount = () => readdirSync("/proc/self/fd").length;
export const rssMiB = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync("/proc/self/status", "utf8"))![1]) / 1024;

function junk(r: Rng, max: number): string {
  let s = "";
  const len = r.int(max);
  for (let i = 0; i < len; i++) s += String.fromCharCode(r.pick([r.int(32), 32 + r.int(95), 0x80 + r.int(0x780), 61, 10, 0]));
  return s;
}

function number(r: Rng): string {
  return r.pick(["0", "1", "-1", "18446744073709551615", "99999999999999999999999", "1e9", "0x10", " 5", "5 ", "", "abc", String(r.next())]);
}

/** One assignment; MAINPID= is never mutated (see the module comment). */
function assignment(r: Rng, servicePid: number): { text: string; mutable: boolean } {
  switch (r.int(16)) {
    case 0:
      return { text: "READY=1", mutable: true };
    case 1:
      return { text: "RELOADING=1", mutable: true };
    case 2:
      return { text: "STOPPING=1", mutable: true };
    case 3:
      return { text: `STATUS=${junk(r, 300)}`, mutable: true };
    case 4:
      return { text: `MAINPID=${r.pick([String(servicePid), String(pidMax + 1 + r.int(1000)), "0", "-5", "x", ""])}`, mutable: false };
    case 5:
      return { text: "WATCHDOG=1", mutable: true };
    case 6:
      return { text: `WATCHDOG_USEC=${number(r)}`, mutable: true };
    case 7:
      return { text: `EXTEND_TIMEOUT_USEC=${number(r)}`, mutable: true };
    case 8:
      return { text: "FDSTORE=1", mutable: true };
    case 9:
      return { text: "FDSTOREREMOVE=1", mutable: true };
    case 10:
      return { text: `FDNAME=${r.pick(["a", "b", "stored", "", "x".repeat(300), "a:b", junk(r, 20)])}`, mutable: true };
    case 11:
      return { text: `FDPOLL=${number(r)}`, mutable: true };
    case 12:
      return { text: "BARRIER=1", mutable: true };
    case 13:
      return { text: `ERRNO=${number(r)}`, mutable: true };
    case 14:
      return { text: `${junk(r, 12)}=${junk(r, 40)}`, mutable: true };
    default:
      return { text: junk(r, 60), mutable: true };
  }
}

function mutate(r: Rng, s: string): string {
  if (s === "" || r.int(3) !== 0) return s;
  const i = r.int(s.length);
  switch (r.int(4)) {
    case 0:
      return s.slice(0, i) + s.slice(i + 1);
    case 1:
      return s.slice(0, i) + String.fromCharCode(r.int(256)) + s.slice(i);
    case 2:
      return s.slice(0, i) + s.slice(i).repeat(1 + r.int(3));
    default:
      return s.slice(0, i);
  }
}

export function message(r: Rng, servicePid: number): string {
  const parts: string[] = [];
  const count = 1 + r.int(6);
  for (let i = 0; i < count; i++) {
    const a = assignment(r, servicePid);
    parts.push(a.mutable ? mutate(r, a.text) : a.text);
  }
  return parts.join(r.pick(["\n", "\n", "\n", "\r\n", "\n\n", "\0"]));
}

export interface NotifyFuzzResult {
  failures: string[];
  fdsBefore: number;
  fdsAfter: number;
  stored: number;
  rssBefore: number;
  rssAfter: number;
  datagrams: number;
  handled: number;
}

export async function fuzzNotify(iterations: number, seed: number): Promise<NotifyFuzzResult> {
  const r = new Rng(seed);
  const d = await TestDaemon.start(UNITS, { boot: false });
  const failures: string[] = [];
  let handled = 0;
  let datagrams = 0;
  try {
    if ((await d.manager.start("fz.service")) !== "done") throw new Error(`fz.service did not start:\n${d.logText()}`);
    const svc = () => d.unit("fz.service") as ServiceUnit;
    const path = d.path("notify");
    const sock = NotifySocket.bind(
      path,
      n.fdWatcher(),
      (_c, _text, fds) => {
        handled++;
        for (const fd of fds) n.close(fd);
        return true;
      },
      () => {},
      new FakeClock(),
    );
    const client = n.socket(C.AF_UNIX, C.SOCK_DGRAM);
    n.connect(client, { family: "unix", path, abstract: false });
    Bun.gc(true);
    const fdsBefore = fdCount();
    const rssBefore = rssMiB();
    try {
      for (let i = 0; i < iterations; i++) {
        await waitFor(() => svc().mainPid !== null, 5000, "the service running");
        const pid = svc().mainPid!;
        const text = message(r, pid);
        const nfds = r.int(4) === 0 ? 1 + r.int(4) : 0;
        const pipes = Array.from({ length: nfds }, () => n.pipe());
        // The manager takes the read ends it was given; the write ends are ours to close.
        const give = pipes.map((p) => p[0]);
        try {
          d.manager.notify({ pid }, text, give);
        } catch (e) {
          failures.push(`seed ${seed} #${i}: ${JSON.stringify(text)}: ${(e as Error).stack ?? e}`);
        }
        for (const p of pipes) n.close(p[1]);
        // And the same text (or junk) over the wire, sometimes with too many fds or too many bytes.
        if (r.int(4) === 0) {
          const body = r.int(10) === 0 ? "x".repeat(4000 + r.int(2000)) : text;
          const wire = r.int(8) === 0 ? Array.from({ length: 60 + r.int(20) }, () => n.pipe()) : Array.from({ length: r.int(3) }, () => n.pipe());
          const send = () => {
            if (wire.length)
              n.sendFds(
                client,
                new TextEncoder().encode(body),
                wire.map((p) => p[0]),
              );
            else n.send(client, new TextEncoder().encode(body));
            datagrams++;
          };
          try {
            send();
          } catch {
            // The queue is full (the reader runs on this event loop, which a loaded machine
            // starves): let it drain once and try again; a second refusal (or too many fds for
            // sendmsg) is the transport saying no.
            await Bun.sleep(1);
            try {
              send();
            } catch {
              /* refused */
            }
          }
          for (const p of wire) for (const fd of p) n.close(fd);
        }
        if (i % 64 === 0) await Bun.sleep(0);
      }
      // Every datagram sent is read (handled, or ignored with a rate-limited warning): nothing left queued.
      await waitFor(() => n.pollOne(sock.fd, POLLIN, 0) === 0, 10_000, "the notify socket drained");
    } finally {
      n.close(client);
      sock.close();
    }
    const stored = (svc() as unknown as { fdStore?: { size: number } }).fdStore?.size ?? 0;
    Bun.gc(true);
    return { failures, fdsBefore, fdsAfter: fdCount(), stored, rssBefore, rssAfter: rssMiB(), datagrams, handled };
  } finally {
    await d.stop();
  }
}

if (import.meta.main) {
  const arg = (k: string, dflt: number) => {
    const i = process.argv.indexOf(k);
    return i >= 0 ? Number(process.argv[i + 1]) : dflt;
  };
  const res = await fuzzNotify(arg("--iterations", 5000), arg("--seed", 1));
  console.log(JSON.stringify({ ...res, failures: res.failures.slice(0, 5) }, null, 2));
  process.exit(res.failures.length ? 1 : 0);
}
