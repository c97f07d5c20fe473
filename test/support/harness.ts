/**
 * Integration-test support: a real Manager (real sockets, real processes, the native exec
 * helper) over a temporary unit directory, plus helpers to wait for states and build the
 * C test services.
 */
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { $ } from "zx";
import { Logger, type LogRecord, formatRecord } from "../../firmware/core/log.ts";
import { Manager } from "../../firmware/daemon/manager.ts";
import { hostFacts } from "../../firmware/unit/host-facts.ts";
import type { UnitRuntime } from "../../firmware/core/unit-runtime.ts";
import type { SocketUnit } from "../../firmware/socket/socket-unit.ts";
import { buildDir, repoRoot } from "../../scripts/lib/paths.ts";
import * as n from "../../firmware/native.ts";
import * as C from "../../firmware/sys/constants.ts";

$.verbose = false;

export async function waitFor(pred: () => boolean | Promise<boolean>, timeoutMs = 5000, what = "condition"): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await pred())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(10);
  }
}

export class TestDaemon {
  readonly logs: LogRecord[] = [];
  private constructor(
    readonly dir: string,
    readonly manager: Manager,
  ) {}

  /** Writes the unit files into a fresh directory and boots a manager on it. */
  static async start(units: Record<string, string>, opts: { boot?: boolean; env?: Record<string, string> } = {}): Promise<TestDaemon> {
    const dir = mkdtempSync(join(tmpdir(), "bunit-it-"));
    for (const [name, text] of Object.entries(units)) {
      const p = join(dir, "units", name);
      mkdirSync(join(p, ".."), { recursive: true });
      writeFileSync(p, text.replaceAll("@DIR@", dir));
    }
    const logger = new Logger("debug");
    const d = new TestDaemon(dir, new Manager({
      unitPath: [join(dir, "units")],
      logger,
      host: hostFacts(),
      dirs: { runtime: join(dir, "run"), state: join(dir, "state"), cache: join(dir, "cache"), logs: join(dir, "log"), config: join(dir, "etc") },
      ...(opts.env ? { daemonEnv: opts.env } : {}),
    }));
    logger.addSink((r) => {
      d.logs.push(r);
      if (process.env.BUNIT_TEST_LOG) process.stderr.write(formatRecord(r) + "\n");
    });
    if (opts.boot !== false) await d.manager.boot();
    return d;
  }

  path(...p: string[]): string {
    return join(this.dir, ...p);
  }

  unit(name: string): UnitRuntime {
    const u = this.manager.unit(name);
    if (!u) throw new Error(`unit ${name} not loaded; log:\n${this.logText()}`);
    return u;
  }

  socket(name: string): SocketUnit {
    return this.unit(name) as SocketUnit;
  }

  sub(name: string): string {
    return this.manager.unit(name)?.subState() ?? "not-loaded";
  }

  async waitState(name: string, sub: string | string[], timeoutMs = 5000): Promise<void> {
    const want = Array.isArray(sub) ? sub : [sub];
    try {
      await waitFor(() => want.includes(this.sub(name)), timeoutMs, `${name} in ${want.join("|")}`);
    } catch (e) {
      throw new Error(`${(e as Error).message} (is ${this.sub(name)}); log:\n${this.logText()}`);
    }
  }

  logText(): string {
    return this.logs.map(formatRecord).join("\n");
  }

  /** Messages logged for a unit (daemon messages and the unit's output). */
  messages(unit?: string): string[] {
    return this.logs.filter((r) => !unit || r.unit === unit).map((r) => r.message);
  }

  async stop(): Promise<void> {
    await this.manager.shutdown(10e6);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Builds a C program from test/services/ (cached) and returns its path. */
export async function testBinary(name: string, libs: string[] = []): Promise<string> {
  const src = join(repoRoot, "test", "services", `${name}.c`);
  const out = join(buildDir, "test-bin", name);
  if (existsSync(out) && statSync(out).mtimeMs >= statSync(src).mtimeMs) return out;
  mkdirSync(join(buildDir, "test-bin"), { recursive: true });
  const flags = libs.length ? (await $`pkg-config --cflags --libs ${libs}`).stdout.trim().split(/\s+/) : [];
  await $`cc -O2 -Wall -o ${out} ${src} ${flags}`;
  return out;
}

/** A free TCP port on 127.0.0.1 (bound and released). */
export async function freePort(): Promise<number> {
  const s = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const p = s.port;
  s.stop(true);
  return p;
}

/** Connects to a unix or TCP stream socket, sends data, and reads until the peer closes. */
export async function request(target: { unix: string } | { port: number; host?: string }, data = "", timeoutMs = 5000): Promise<string> {
  const chunks: Uint8Array[] = [];
  return await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("request timed out")), timeoutMs);
    const handlers = {
      open(s: { write(d: string): number; shutdown(half?: boolean): void }) {
        if (data) s.write(data);
      },
      data(_s: unknown, d: Uint8Array) {
        chunks.push(new Uint8Array(d));
      },
      close() {
        clearTimeout(timer);
        resolve(Buffer.concat(chunks).toString());
      },
      error(_s: unknown, e: Error) {
        clearTimeout(timer);
        reject(e);
      },
      connectError(_s: unknown, e: Error) {
        clearTimeout(timer);
        reject(e);
      },
    };
    const p = "unix" in target ? Bun.connect({ unix: target.unix, socket: handlers }) : Bun.connect({ hostname: target.host ?? "127.0.0.1", port: target.port, socket: handlers });
    p.catch((e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}

/** Opens a pseudo-terminal; returns the master fd and the slave's path (a quiet char device). */
export function openPty(): { master: number; path: string } {
  const master = n.open("/dev/ptmx", C.O_RDWR | C.O_NOCTTY | C.O_NONBLOCK);
  n.ioctl(master, 0x40045431 /* TIOCSPTLCK */, new Uint8Array(4));
  const num = new Uint8Array(4);
  n.ioctl(master, 0x80045430 /* TIOCGPTN */, num);
  return { master, path: `/dev/pts/${new DataView(num.buffer).getUint32(0, true)}` };
}
