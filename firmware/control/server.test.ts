import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as n from "../native.ts";
import * as C from "../sys/constants.ts";
import { SysError } from "../sys/errno.ts";
import type { FdWatch } from "../core/fd-watch.ts";
import type { Caller } from "./auth.ts";
import { admit, ControlServer, DEFAULT_LIMITS, type HandlerResult, type Timers } from "./server.ts";
import type { ControlRequest } from "./protocol.ts";

const dir = mkdtempSync(join(tmpdir(), "bunit-ctlsrv-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Records watched fds and their arming; events are delivered by the test. */
class FakeWatch implements FdWatch {
  handlers = new Map<number, (ev: number) => void>();
  armed = new Map<number, number>();
  watch(fd: number, events: number, h: (ev: number) => void) {
    this.handlers.set(fd, h);
    this.armed.set(fd, events);
  }
  arm(fd: number, events: number) {
    this.armed.set(fd, events);
  }
  forget(fd: number) {
    this.handlers.delete(fd);
    this.armed.delete(fd);
  }
  fire(fd: number, ev = C.EPOLLIN) {
    this.armed.delete(fd); // one-shot, like the native watcher
    this.handlers.get(fd)?.(ev);
  }
}

class FakeTimers implements Timers {
  pending = new Map<number, { fn: () => void; ms: number }>();
  next = 1;
  set(fn: () => void, ms: number) {
    const id = this.next++;
    this.pending.set(id, { fn, ms });
    return id;
  }
  clear(h: unknown) {
    this.pending.delete(h as number);
  }
  /** Runs every timer due within ms. */
  run(ms: number) {
    for (const [id, t] of [...this.pending]) {
      if (t.ms <= ms && this.pending.delete(id)) t.fn();
    }
  }
}

const tick = () => new Promise((r) => setTimeout(r, 0));

function setup(opts: { uid?: (i: number) => number; handler?: (req: ControlRequest) => Promise<HandlerResult>; limits?: Partial<typeof DEFAULT_LIMITS> } = {}) {
  const watch = new FakeWatch();
  const timers = new FakeTimers();
  const queue: number[] = [];
  let acceptError: number | null = null;
  let count = 0;
  const warnings: string[] = [];
  const server = ControlServer.listen(join(dir, `c${Math.random()}`), watch, opts.handler ?? (async () => ({ ok: true, data: "hi" })), {
    timers,
    limits: opts.limits,
    warn: (m) => warnings.push(m),
    callerOf: (): Caller => ({ cred: { pid: 1, uid: opts.uid?.(count++) ?? 1000, gid: 1000 }, groups: [] }),
    accept: () => {
      if (acceptError !== null) throw new SysError("accept4", acceptError);
      const fd = queue.shift();
      return fd === undefined ? null : { fd, peer: { family: "unix", path: "" } as never };
    },
  });
  /** A new client: returns its end; the server's end is accepted at the next accept event. */
  const client = () => {
    const [a, b] = n.socketpair(C.AF_UNIX, C.SOCK_STREAM | C.SOCK_NONBLOCK | C.SOCK_CLOEXEC);
    queue.push(b!);
    return { fd: a!, server: b! };
  };
  const read = (fd: number): string => {
    const buf = new Uint8Array(1 << 16);
    let s = "";
    for (;;) {
      let r: number | null;
      try {
        r = n.recv(fd, buf);
      } catch {
        return s;
      }
      if (!r) return s;
      s += new TextDecoder().decode(buf.subarray(0, r));
    }
  };
  const send = (fd: number, s: string) => n.send(fd, new TextEncoder().encode(s), C.MSG_NOSIGNAL);
  return { watch, timers, server, client, read, send, warnings, setAcceptError: (e: number | null) => (acceptError = e) };
}

describe("control server limits", () => {
  test("admission: per non-root uid and in all", () => {
    const c = (uid: number): Caller => ({ cred: { pid: 1, uid, gid: uid }, groups: [] });
    const l = { ...DEFAULT_LIMITS, perUid: 2, total: 3 };
    expect(admit(c(5), new Map([[5, 1]]), 1, l)).toBeNull();
    expect(admit(c(5), new Map([[5, 2]]), 2, l)).toContain("uid 5 (limit 2)");
    expect(admit(c(0), new Map([[0, 2]]), 2, l)).toBeNull();
    expect(admit(c(0), new Map([[0, 3]]), 3, l)).toContain("too many control connections (3)");
  });

  test("a uid over its cap is refused with a reply; a closed connection frees its slot", async () => {
    const s = setup({ limits: { perUid: 2 } });
    const a = s.client(),
      b = s.client(),
      c = s.client();
    s.watch.fire(s.server.fd);
    expect(s.server.connections).toBe(2);
    // The refused one stays open until it has asked, so that it learns why.
    expect(s.read(c.fd)).toBe("");
    s.send(c.fd, '{"command":"status"}\n');
    s.watch.fire(c.server);
    await tick();
    expect(JSON.parse(s.read(c.fd))).toEqual({ ok: false, error: "too many control connections from uid 1000 (limit 2)" });
    expect(s.warnings.join()).toContain("refusing");
    expect(s.watch.armed.get(s.server.fd)).toBe(C.EPOLLIN);
    n.close(a.fd);
    s.watch.fire(a.server, C.EPOLLIN | C.EPOLLRDHUP);
    expect(s.server.connections).toBe(1);
    const d = s.client();
    s.watch.fire(s.server.fd);
    expect(s.server.connections).toBe(2);
    for (const x of [b, c, d]) n.close(x.fd);
    s.server.close();
  });

  test("refused connections waiting to hear why are bounded too", async () => {
    const s = setup({ limits: { perUid: 1, refusing: 2 } });
    const cs = [s.client(), s.client(), s.client(), s.client()];
    s.watch.fire(s.server.fd);
    expect(s.server.connections).toBe(1);
    // The 4th is closed at once: the client sees the end of the connection.
    expect(s.watch.handlers.has(cs[3]!.server)).toBe(false);
    expect(s.watch.handlers.has(cs[2]!.server)).toBe(true);
    for (const x of cs) n.close(x.fd);
    s.server.close();
  });

  test("idle connections are closed; one waiting for its job is not", async () => {
    let release: () => void = () => {};
    const s = setup({
      handler: (req) =>
        req.command === "start" ? new Promise((r) => (release = () => r({ ok: true, data: "started" }))) : Promise.resolve({ ok: true, data: 1 }),
    });
    const silent = s.client(),
      slowJob = s.client();
    s.watch.fire(s.server.fd);
    s.send(slowJob.fd, '{"command":"start","units":["a.service"]}\n');
    s.watch.fire(slowJob.server);
    await tick();
    s.timers.run(DEFAULT_LIMITS.idleMs);
    expect(s.server.connections).toBe(1); // the silent one is gone
    expect(s.read(silent.fd)).toBe("");
    release();
    await tick();
    await tick();
    expect(s.read(slowJob.fd)).toContain('"started"');
    for (const x of [silent, slowJob]) n.close(x.fd);
    s.server.close();
  });

  test("EMFILE pauses accepting without spinning and keeps serving; accepting resumes", async () => {
    const s = setup();
    const a = s.client();
    s.watch.fire(s.server.fd);
    s.setAcceptError(24); // EMFILE
    s.watch.fire(s.server.fd);
    expect(s.server.acceptPaused).toBe(true);
    expect(s.watch.armed.has(s.server.fd)).toBe(false); // not re-armed: epoll stays quiet
    expect(s.warnings.join()).toContain("pausing new connections");
    s.send(a.fd, '{"command":"status"}\n');
    s.watch.fire(a.server);
    await tick();
    expect(s.read(a.fd)).toContain('"hi"');
    s.setAcceptError(null);
    s.timers.run(DEFAULT_LIMITS.acceptPauseMs);
    expect(s.server.acceptPaused).toBe(false);
    expect(s.watch.armed.get(s.server.fd)).toBe(C.EPOLLIN);
    const b = s.client();
    s.watch.fire(s.server.fd);
    expect(s.server.connections).toBe(1); // a finished after its answer; b is new
    n.close(a.fd);
    n.close(b.fd);
    s.server.close();
  });

  test("a follower that does not read loses records beyond its budget, then learns how many", async () => {
    let emit: (l: unknown) => void = () => {};
    const s = setup({
      limits: { followerQueueBytes: 64 * 1024 },
      handler: async () => ({ first: { ok: true, data: "following" }, stream: (send) => ((emit = send), () => {}) }),
    });
    const f = s.client();
    s.watch.fire(s.server.fd);
    s.send(f.fd, '{"command":"logs","follow":true}\n');
    s.watch.fire(f.server);
    await tick();
    const big = "x".repeat(1000);
    for (let i = 0; i < 5000; i++) emit({ record: { message: big, i } });
    // The socket buffer took some, the queue at most its budget; the rest was dropped.
    const got = s.read(f.fd).trim().split("\n");
    expect(got.length).toBeLessThan(1000);
    s.watch.fire(f.server, C.EPOLLOUT);
    const more = s.read(f.fd);
    emit({ record: { message: "after", i: -1 } });
    s.watch.fire(f.server, C.EPOLLOUT);
    const tail = (more + s.read(f.fd))
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    const marker = tail.find((l) => "dropped" in l);
    expect(marker.dropped).toBeGreaterThan(3000);
    expect(tail.at(-1).record.message).toBe("after");
    n.close(f.fd);
    s.server.close();
  });

  test("a follower that takes nothing for the idle time is disconnected", async () => {
    let emit: (l: unknown) => void = () => {};
    const s = setup({ handler: async () => ({ stream: (send) => ((emit = send), () => {}) }) });
    const f = s.client();
    s.watch.fire(s.server.fd);
    s.send(f.fd, '{"command":"logs","follow":true}\n');
    s.watch.fire(f.server);
    await tick();
    s.timers.run(DEFAULT_LIMITS.idleMs);
    expect(s.server.connections).toBe(1); // listening with nothing queued is not idle
    for (let i = 0; i < 2000; i++) emit({ record: { message: "y".repeat(500) } });
    s.timers.run(DEFAULT_LIMITS.idleMs);
    expect(s.server.connections).toBe(0);
    n.close(f.fd);
    s.server.close();
  });

  test("oversized and malformed requests get an error reply", async () => {
    const s = setup();
    const a = s.client(),
      b = s.client();
    s.watch.fire(s.server.fd);
    const chunk = "x".repeat(60_000);
    for (let i = 0; i < 2; i++) s.send(a.fd, chunk);
    s.watch.fire(a.server);
    expect(s.read(a.fd)).toContain("request too long");
    s.send(b.fd, "{nope\n");
    s.watch.fire(b.server);
    await tick();
    expect(JSON.parse(s.read(b.fd))).toEqual({ ok: false, error: "request is not JSON" });
    n.close(a.fd);
    n.close(b.fd);
    s.server.close();
  });
});
