/**
 * Integration-test support: a real Manager (real sockets, real processes, the native exec
 * helper) over a temporary unit directory, plus helpers to wait for states and build the
 * C test services.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmdirSync, rmSync, statSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { $ } from "zx";
import { Logger, type LogRecord, formatRecord } from "../../firmware/core/log.ts";
import { Manager } from "../../firmware/daemon/manager.ts";
import { hostFacts } from "../../firmware/unit/host-facts.ts";
import type { UnitRuntime } from "../../firmware/runtime/unit-runtime.ts";
import type { SocketUnit } from "../../firmware/socket/socket-unit.ts";
import { buildDir, repoRoot } from "../../scripts/lib/paths.ts";
import { cgroup2Mount, ownCgroup } from "../../firmware/exec/cgroup.ts";
import { errorText } from "../../firmware/core/errors.ts";
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

/**
 * Waits for pred and returns the last value of measure, met or not (the deadline passing is
 * not an error here): for an expect() on the value afterwards, which then says what it was.
 */
export async function settled<T>(measure: () => T, pred: (v: T) => boolean, timeoutMs = 5000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = measure();
    if (pred(v) || Date.now() > end) return v;
    await Bun.sleep(10);
  }
}

export class TestDaemon {
  readonly logs: LogRecord[] = [];
  private readonly watches: ((r: LogRecord) => void)[] = [];
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
    const d = new TestDaemon(
      dir,
      new Manager({
        unitPath: [join(dir, "units")],
        logger,
        host: hostFacts(),
        dirs: { runtime: join(dir, "run"), state: join(dir, "state"), cache: join(dir, "cache"), logs: join(dir, "log"), config: join(dir, "etc") },
        ...(opts.env ? { daemonEnv: opts.env } : {}),
      }),
    );
    logger.addSink((r) => {
      d.logs.push(r);
      for (const w of [...d.watches]) w(r);
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

  /**
   * Resolves with look(record) evaluated at the moment the first record matching pred is
   * logged, synchronously inside the daemon's call that logs it: the state it sees is the
   * state at that event, however late the test gets to run. Rejects after timeoutMs.
   */
  atRecord<T>(pred: (r: LogRecord) => boolean, look: (r: LogRecord) => T, timeoutMs = 5000, what = "a log record"): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const w = (r: LogRecord) => {
        if (!pred(r)) return;
        this.drop(w);
        clearTimeout(timer);
        resolve(look(r));
      };
      const timer = setTimeout(() => {
        this.drop(w);
        reject(new Error(`timed out waiting for ${what}; log:\n${this.logText()}`));
      }, timeoutMs);
      this.watches.push(w);
    });
  }

  private drop(w: (r: LogRecord) => void): void {
    const i = this.watches.indexOf(w);
    if (i >= 0) this.watches.splice(i, 1);
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

/** The kernel's ephemeral port range: connect() and bind(port 0) take their ports from it. */
export function ephemeralPorts(): { low: number; high: number } {
  const [low, high] = readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/).map(Number);
  return { low: low!, high: high! };
}

const portsGiven = new Set<number>();

/** Whether nothing is bound to port on the wildcard addresses (TCP and UDP, IPv4 and IPv6). */
function portUnused(port: number): boolean {
  const wild = [
    { family: "inet" as const, addr: new Uint8Array(4), port },
    { family: "inet6" as const, addr: new Uint8Array(16), port, scopeId: 0 },
  ];
  for (const addr of wild) {
    for (const type of [C.SOCK_STREAM, C.SOCK_DGRAM]) {
      let fd: number;
      try {
        fd = n.socket(addr.family === "inet" ? C.AF_INET : C.AF_INET6, type);
      } catch {
        continue; // no IPv6 here
      }
      try {
        if (addr.family === "inet6") n.setsockoptInt(fd, C.IPPROTO_IPV6, C.IPV6_V6ONLY, 0);
        n.bind(fd, addr);
      } catch {
        return false;
      } finally {
        n.close(fd);
      }
    }
  }
  return true;
}

/**
 * A TCP/UDP port for a listener a test configures (the daemon, like systemd, refuses port 0).
 * It lies below the kernel's ephemeral range, so no connect() or bind(0) anywhere on the
 * machine can take it between this check and the daemon's bind(); it is checked unused for
 * TCP and UDP on IPv4 and IPv6, and never handed out twice by this process. The start is
 * random, so concurrent test processes rarely even try the same port.
 */
export function testPort(): number {
  const top = Math.min(ephemeralPorts().low, 65536);
  const bottom = 10000;
  if (top <= bottom) throw new Error(`no ports below the ephemeral range (${top}) to choose from`);
  const span = top - bottom;
  const start = Math.floor(Math.random() * span);
  for (let i = 0; i < span; i++) {
    const port = bottom + ((start + i) % span);
    if (portsGiven.has(port) || !portUnused(port)) continue;
    portsGiven.add(port);
    return port;
  }
  throw new Error(`no unused port in ${bottom}..${top - 1}`);
}

/** Connections waiting in the accept queue of a listening unix socket (Recv-Q in ss). */
export async function unixPending(path: string): Promise<number> {
  const f = (await $`ss -xlHn src ${path}`).stdout.trim().split(/\s+/);
  if (f[1] !== "LISTEN") throw new Error(`${path} is not a listening unix socket: ${f.join(" ")}`);
  return Number(f[2]);
}

/** Whether a unix socket file is listening (__SO_ACCEPTCON in /proc/net/unix), not just bound. */
export function unixListening(path: string): boolean {
  return readFileSync("/proc/net/unix", "utf8")
    .split("\n")
    .some((l) => l.endsWith(` ${path}`) && l.trim().split(/\s+/)[3] === "00010000");
}

/**
 * Why services started here get no cgroup2 directory (the daemon then falls back to process
 * groups), or null when they get one. Checks what CgroupTree.create() needs: a cgroup2 mount,
 * this process's cgroup2 path, and the right to create a directory below it.
 */
export function cgroup2Missing(): string | null {
  let mnt: string | null;
  let own: string | null;
  try {
    mnt = cgroup2Mount(readFileSync("/proc/self/mountinfo", "utf8"));
    own = ownCgroup(readFileSync("/proc/self/cgroup", "utf8"));
  } catch (e) {
    return `cannot read /proc/self: ${errorText(e)}`;
  }
  if (!mnt) return "no cgroup2 hierarchy is mounted (/proc/self/mountinfo)";
  if (own === null) return "this process has no cgroup2 path (no 0:: line in /proc/self/cgroup)";
  const probe = join(mnt, own, `bunit-probe-${process.pid}`);
  try {
    mkdirSync(probe);
    rmdirSync(probe);
  } catch (e) {
    return `cannot create a cgroup below ${join(mnt, own)}: ${errorText(e)}`;
  }
  return null;
}

/**
 * What the kernel answers to setting the extended attribute name on an inode like the one a
 * socket option sets it on: a unix socket's file ("path", lsetxattr) or a socket's own inode
 * ("fd", fsetxattr on sockfs). null when it is allowed, else the errno name. Probed on a
 * scratch socket in dir, so a test knows which outcome to assert before it looks.
 */
export function xattrAnswer(on: "path" | "fd", name: string, dir: string): string | null {
  const fd = n.socket(C.AF_UNIX, C.SOCK_STREAM);
  const path = join(dir, `xattr-probe-${process.pid}.sock`);
  try {
    n.bind(fd, { family: "unix", path, abstract: false });
    if (on === "path") n.lsetxattr(path, name, "probe");
    else n.fsetxattr(fd, name, "probe");
    return null;
  } catch (e) {
    return (e as { code?: string }).code ?? errorText(e);
  } finally {
    n.close(fd);
    rmSync(path, { force: true });
  }
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
    const p =
      "unix" in target
        ? Bun.connect({ unix: target.unix, socket: handlers })
        : Bun.connect({ hostname: target.host ?? "127.0.0.1", port: target.port, socket: handlers });
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
