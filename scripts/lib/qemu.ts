/**
 * Booting built images in QEMU and talking to them: the serial console is captured line by
 * line; with the agent (virtio-serial port "bunit.agent", scripts/guest/agent.ts) tests run
 * commands in the guest and read and write files there. KVM is used when a probe shows it
 * works on this machine (the result is cached), software emulation (TCG, -cpu max) otherwise.
 *
 * Host<->guest vsock: with /dev/vhost-vsock the guest gets vhost-vsock-pci (the kernel's
 * back-end, CID 3 + pid % 1000). Without it, and with `vsock: true`, bunit's own vhost-user
 * back-end (`bunit vsock host`, a child process) serves vhost-user-vsock-pci, the guest's
 * memory being a shared memfd; host programs reach the guest through guest.vsockUds
 * (connectVsock(`unix:${guest.vsockUds}:PORT`)) and the guest reaches CID 2 port P at
 * `${guest.vsockUds}_P`.
 */
import type { Subprocess } from "bun";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { $ } from "zx";
import type { BoardConfig } from "./board-config.ts";
import { cacheDir, hostArch, repoRoot } from "./paths.ts";

$.verbose = false;

export interface RunResult {
  code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  ms: number;
}

export interface BootOptions {
  /** bunit.mode: daemon (default), shell, none. */
  mode?: "daemon" | "shell" | "none";
  agent?: boolean;
  accel?: "auto" | "kvm" | "tcg";
  extraCmdline?: string;
  onConsole?: (line: string) => void;
  /** How long to wait for the agent (or the init banner). */
  bootTimeoutMs?: number;
  /**
   * A host<->guest vsock device: true gives vhost-vsock-pci where the host has /dev/vhost-vsock
   * and bunit's vhost-user back-end elsewhere; "vhost-user" always the back-end.
   */
  vsock?: boolean | "vhost-user";
  /** A back-end that outlives this guest (a QEMU restart against the same back-end); implies vsock. */
  vsockBackend?: VsockBackend;
  /** The guest may reboot (QEMU resets the machine instead of exiting: no -no-reboot); see Guest.reboot(). */
  reboot?: boolean;
  /**
   * QEMU's vhost-user chardev reconnects (reconnect=N seconds) when the back-end goes away. With
   * QEMU 7.2 vhost-user-vsock-pci does not even realize with it (firmware/vhost/README.md, "When
   * the back-end dies"); for trying a newer QEMU.
   */
  vsockReconnectSec?: number;
}

/** The guest CID given to the vhost-user back-end (its own namespace: any CID works). */
export const VHOST_USER_GUEST_CID = 3;

export interface VsockWiring {
  /** "kernel": vhost-vsock-pci; "vhost-user": bunit's back-end on these sockets. */
  kind: "kernel" | "vhost-user";
  vhostUserSocket?: string;
  /** QEMU's chardev reconnects this many seconds after the back-end goes away (reconnect=N). */
  reconnectSec?: number;
}

interface ImageFiles {
  board: BoardConfig;
  kernel: string;
  initramfs: string;
}

function qemuBinary(board: BoardConfig): string {
  return board.arch === "x86_64" ? "qemu-system-x86_64" : "qemu-system-aarch64";
}

export function qemuArgs(
  img: ImageFiles,
  accel: "kvm" | "tcg",
  agentSocket: string | null,
  cmdline: string,
  vsock: VsockWiring | null = existsSync("/dev/vhost-vsock") ? { kind: "kernel" } : null,
  opts: { reboot?: boolean } = {},
): string[] {
  const q = img.board.qemu!;
  const cpu = accel === "kvm" ? "host,-arch-capabilities" : q.cpu;
  const args = [
    "-machine",
    q.machine,
    "-accel",
    accel,
    "-cpu",
    cpu,
    "-m",
    `${q.memoryMiB}`,
    "-smp",
    String(q.smp),
    "-display",
    "none",
    "-monitor",
    "none",
    "-serial",
    "stdio",
    ...(opts.reboot ? [] : ["-no-reboot"]),
    "-kernel",
    img.kernel,
    "-initrd",
    img.initramfs,
    "-append",
    cmdline,
    "-nic",
    "none",
  ];
  if (agentSocket) {
    args.push(
      "-device",
      "virtio-serial-pci",
      "-chardev",
      `socket,id=agent,path=${agentSocket},server=on,wait=off`,
      "-device",
      "virtserialport,chardev=agent,name=bunit.agent",
    );
  }
  if (vsock?.kind === "kernel") args.push("-device", `vhost-vsock-pci,guest-cid=${3 + (process.pid % 1000)}`);
  if (vsock?.kind === "vhost-user") {
    // The back-end maps the guest's memory: it must be a shareable fd.
    args.push(
      "-object",
      `memory-backend-memfd,id=mem,size=${q.memoryMiB}M,share=on`,
      "-numa",
      "node,memdev=mem",
      "-chardev",
      `socket,id=vsock,path=${vsock.vhostUserSocket}${vsock.reconnectSec ? `,reconnect=${vsock.reconnectSec}` : ""}`,
      "-device",
      "vhost-user-vsock-pci,chardev=vsock",
    );
  }
  args.push(...q.extraArgs);
  return args;
}

/** A guest that never printed a line (Guest.boot() starts it once more). */
class SilentGuest extends Error {}

/** Each thread of process pid with its state and where it waits (for a report on a guest that never came up). */
function threadStates(pid: number): string {
  try {
    return readdirSync(`/proc/${pid}/task`)
      .map((tid) => {
        const at = (f: string) => {
          try {
            return readFileSync(`/proc/${pid}/task/${tid}/${f}`, "utf8").trim();
          } catch {
            return "?";
          }
        };
        const stat = at("stat");
        const state = stat.slice(stat.lastIndexOf(")") + 2).split(" ")[0];
        return `${tid} ${at("comm")} ${state} wchan=${at("wchan")} syscall=${at("syscall").split(" ")[0]}`;
      })
      .join("\n");
  } catch (e) {
    return `(${(e as Error).message})`;
  }
}

/** Whether KVM boots this kernel here (cached per host kernel, QEMU and guest kernel). */
export async function kvmWorks(img: ImageFiles): Promise<boolean> {
  if (img.board.arch !== hostArch() || !existsSync("/dev/kvm") || !img.board.qemu!.accel.includes("kvm")) return false;
  const qemuVersion = (await $`${qemuBinary(img.board)} --version`).stdout.split("\n")[0];
  const hostKernel = (await $`uname -r`).stdout.trim();
  const key = `${hostKernel} | ${qemuVersion} | ${readFileSync(img.kernel).length}`;
  const cacheFile = join(cacheDir, "kvm-probe.json");
  const cache: Record<string, boolean> = existsSync(cacheFile) ? JSON.parse(readFileSync(cacheFile, "utf8")) : {};
  if (key in cache) return cache[key]!;
  const p = Bun.spawn([qemuBinary(img.board), ...qemuArgs(img, "kvm", null, `${img.board.kernel.cmdline} bunit.mode=none`, null)], {
    stdout: "pipe",
    stderr: "pipe",
    stdin: "ignore",
  });
  let ok = false;
  const deadline = setTimeout(() => p.kill("SIGKILL"), 20000);
  const dec = new TextDecoder();
  let text = "";
  for await (const chunk of p.stdout) {
    text += dec.decode(chunk);
    if (text.includes("bunit-init:")) {
      ok = true;
      break;
    }
  }
  clearTimeout(deadline);
  p.kill("SIGKILL");
  await p.exited;
  cache[key] = ok;
  mkdirSync(cacheDir, { recursive: true });
  writeFileSync(cacheFile, JSON.stringify(cache, null, 2));
  return ok;
}

/** `bunit vsock host` as a child process (stopped and started again by tests of restarts). */
export class VsockBackend {
  proc: Subprocess<"ignore", "ignore", "pipe"> | null = null;
  readonly log: string[] = [];

  constructor(
    readonly vhostUserSocket: string,
    readonly uds: string,
    readonly guestCid: number,
    private readonly onLog?: (line: string) => void,
  ) {}

  async start(timeoutMs = 15000): Promise<void> {
    const argv = [
      process.execPath,
      join(repoRoot, "firmware/cli.ts"),
      "vsock",
      "host",
      "--vhost-user",
      this.vhostUserSocket,
      "--uds",
      this.uds,
      "--guest-cid",
      String(this.guestCid),
    ];
    const p = Bun.spawn(argv, { stdin: "ignore", stdout: "ignore", stderr: "pipe" });
    this.proc = p;
    let up!: () => void;
    const ready = new Promise<void>((r) => (up = r));
    void (async () => {
      const dec = new TextDecoder();
      let buf = "";
      for await (const chunk of p.stderr) {
        buf += dec.decode(chunk, { stream: true });
        let nl: number;
        while ((nl = buf.indexOf("\n")) >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          this.log.push(line);
          if (this.log.length > 2000) this.log.splice(0, 1000);
          this.onLog?.(line);
          if (line.includes("vhost-user on")) up();
        }
      }
    })();
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      await Promise.race([
        ready,
        p.exited.then((c) => {
          throw new Error(`bunit vsock host exited (${c}): ${this.log.slice(-5).join(" | ")}`);
        }),
        new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error("bunit vsock host did not start")), timeoutMs))),
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  async stop(): Promise<void> {
    const p = this.proc;
    if (!p) return;
    this.proc = null;
    p.kill("SIGTERM");
    const t = setTimeout(() => p.kill("SIGKILL"), 5000);
    await p.exited;
    clearTimeout(t);
  }
}

export class Guest {
  readonly console: string[] = [];
  private pending = new Map<number, (v: Record<string, unknown>) => void>();
  private nextId = 1;
  private agentSock: { write(s: string): number; end(): void } | null = null;
  private consoleWaiters: { re: RegExp; resolve: (l: string) => void }[] = [];
  private exitCode: number | null = null;
  /** Called at the agent's next "ready" (it sends one at every boot). */
  private readyWaiters: (() => void)[] = [];
  /** bunit's vhost-user vsock back-end, when the guest has one (BootOptions.vsock without /dev/vhost-vsock). */
  vsockBackend: VsockBackend | null = null;
  private ownsBackend = false;
  private rebootAllowed = false;
  private bootTimeoutMs = 180000;

  private constructor(
    readonly proc: Subprocess<"ignore", "pipe", "pipe">,
    readonly accel: "kvm" | "tcg",
    private readonly dir: string,
    private readonly onConsole?: (l: string) => void,
  ) {
    void this.pumpConsole();
    void this.pumpStderr();
    void proc.exited.then((c) => {
      this.exitCode = c;
      for (const [, r] of this.pending) r({ error: `QEMU exited (${c})` });
      this.pending.clear();
    });
  }

  /**
   * Boots the image and waits for the agent (or the init banner). A guest that has not printed a
   * single line of its own (QEMU's warnings aside) in 90 s under TCG, 30 s under KVM (a boot
   * normally prints its first within 15 s under TCG) is reported on stderr, with QEMU's threads
   * and the back-end's log, and started once more: a stalled emulator is not what the tests
   * examine. Any other failure, or a second silent one, throws.
   */
  static async boot(img: ImageFiles, opts: BootOptions = {}): Promise<Guest> {
    try {
      return await Guest.bootOnce(img, opts, true);
    } catch (e) {
      if (!(e instanceof SilentGuest)) throw e;
      process.stderr.write(`qemu: ${e.message}\nqemu: starting the guest once more\n`);
      return await Guest.bootOnce(img, opts, false);
    }
  }

  private static async bootOnce(img: ImageFiles, opts: BootOptions, watchSilence: boolean): Promise<Guest> {
    const accel = opts.accel && opts.accel !== "auto" ? opts.accel : (await kvmWorks(img)) ? "kvm" : "tcg";
    const dir = mkdtempSync(join(tmpdir(), "bunit-qemu-"));
    const agent = opts.agent !== false;
    const sock = agent ? join(dir, "agent.sock") : null;
    const cmdline = [img.board.kernel.cmdline, `bunit.mode=${opts.mode ?? "daemon"}`, agent ? "bunit.agent=1" : "", opts.extraCmdline ?? ""]
      .filter(Boolean)
      .join(" ");
    let wiring: VsockWiring | null = existsSync("/dev/vhost-vsock") && opts.vsock !== "vhost-user" ? { kind: "kernel" } : null;
    let backend: VsockBackend | null = null;
    if (opts.vsockBackend) {
      wiring = { kind: "vhost-user", vhostUserSocket: opts.vsockBackend.vhostUserSocket, reconnectSec: opts.vsockReconnectSec };
    } else if (opts.vsock && !wiring) {
      backend = new VsockBackend(
        join(dir, "vhost-vsock.sock"),
        join(dir, "vsock.sock"),
        VHOST_USER_GUEST_CID,
        opts.onConsole && ((l) => opts.onConsole!(`[vsock] ${l}`)),
      );
      try {
        await backend.start();
      } catch (e) {
        rmSync(dir, { recursive: true, force: true });
        throw e;
      }
      wiring = { kind: "vhost-user", vhostUserSocket: backend.vhostUserSocket, reconnectSec: opts.vsockReconnectSec };
    }
    const proc = Bun.spawn([qemuBinary(img.board), ...qemuArgs(img, accel, sock, cmdline, wiring, { reboot: opts.reboot })], {
      stdin: "ignore",
      stdout: "pipe",
      stderr: "pipe",
    });
    const g = new Guest(proc, accel, dir, opts.onConsole);
    g.vsockBackend = backend ?? opts.vsockBackend ?? null;
    g.ownsBackend = backend !== null;
    g.rebootAllowed = opts.reboot === true;
    const timeout = opts.bootTimeoutMs ?? (accel === "kvm" ? 60000 : 180000);
    g.bootTimeoutMs = timeout;
    const silenceMs = accel === "kvm" ? 30000 : 90000;
    let silenceTimer: ReturnType<typeof setTimeout> | undefined;
    const silence = new Promise<never>((_, reject) => {
      if (watchSilence && timeout > silenceMs) {
        silenceTimer = setTimeout(() => {
          if (g.console.every((l) => l.startsWith("[qemu] "))) reject(new SilentGuest(`the guest printed nothing within ${silenceMs} ms (${accel})`));
        }, silenceMs);
      }
    });
    try {
      await Promise.race([agent ? g.connectAgent(sock!, timeout) : g.waitConsole(/bunit-init: .* up in/, timeout), silence]);
    } catch (e) {
      const threads = threadStates(proc.pid);
      await g.kill();
      const backendLog = g.vsockBackend ? `\n--- vsock back-end ---\n${g.vsockBackend.log.slice(-20).join("\n")}` : "";
      const report = `${(e as Error).message}\n--- console ---\n${g.console.slice(-40).join("\n")}${backendLog}\n--- QEMU's threads ---\n${threads}`;
      throw e instanceof SilentGuest ? new SilentGuest(report) : new Error(report);
    } finally {
      clearTimeout(silenceTimer);
    }
    return g;
  }

  private async pumpConsole(): Promise<void> {
    const dec = new TextDecoder();
    let buf = "";
    const handle = (line: string) => {
      // biome-ignore lint/suspicious/noControlCharactersInRegex: strips the ANSI escapes (ESC [ ... letter) of the guest's console
      const l = line.replace(/\r/g, "").replace(/\x1b\[[0-9;?]*[A-Za-z]/g, "");
      this.console.push(l);
      this.onConsole?.(l);
      for (const w of [...this.consoleWaiters]) {
        if (w.re.test(l)) {
          this.consoleWaiters = this.consoleWaiters.filter((x) => x !== w);
          w.resolve(l);
        }
      }
    };
    for await (const chunk of this.proc.stdout) {
      buf += dec.decode(chunk, { stream: true });
      let nl: number;
      while ((nl = buf.indexOf("\n")) >= 0) {
        handle(buf.slice(0, nl));
        buf = buf.slice(nl + 1);
      }
    }
    if (buf) handle(buf);
  }

  /** QEMU's own messages (a vhost-user back-end going away, for one) join the console, marked. */
  private async pumpStderr(): Promise<void> {
    const dec = new TextDecoder();
    let buf = "";
    for await (const chunk of this.proc.stderr) {
      buf += dec.decode(chunk, { stream: true });
      let nl: number;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const l = `[qemu] ${buf.slice(0, nl)}`;
        buf = buf.slice(nl + 1);
        this.console.push(l);
        this.onConsole?.(l);
      }
    }
  }

  /** Resolves with the first console line (already seen or future) matching re. */
  waitConsole(re: RegExp, timeoutMs = 60000): Promise<string> {
    const seen = this.console.find((l) => re.test(l));
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        this.consoleWaiters = this.consoleWaiters.filter((x) => x.re !== re);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${re} on the console`));
      }, timeoutMs);
      this.consoleWaiters.push({ re, resolve: (l) => (clearTimeout(t), resolve(l)) });
      void this.proc.exited.then(() => reject(new Error(`QEMU exited while waiting for ${re}`)));
    });
  }

  private async connectAgent(path: string, timeoutMs: number): Promise<void> {
    const end = Date.now() + timeoutMs;
    while (!existsSync(path)) {
      if (Date.now() > end || this.exitCode !== null) throw new Error("QEMU did not create the agent socket");
      await Bun.sleep(50);
    }
    let buf = "";
    const readyP = new Promise<void>((r) => this.readyWaiters.push(r));
    this.agentSock = await Bun.connect({
      unix: path,
      socket: {
        data: (_s, d) => {
          buf += Buffer.from(d).toString();
          let nl: number;
          while ((nl = buf.indexOf("\n")) >= 0) {
            const line = buf.slice(0, nl).trim();
            buf = buf.slice(nl + 1);
            if (!line.startsWith("{")) continue;
            let msg: Record<string, unknown>;
            try {
              msg = JSON.parse(line);
            } catch {
              continue;
            }
            if (msg.id === 0 && msg.ready) for (const w of this.readyWaiters.splice(0)) w();
            const r = this.pending.get(msg.id as number);
            if (r) {
              this.pending.delete(msg.id as number);
              r(msg);
            }
          }
        },
      },
    });
    const left = Math.max(1000, end - Date.now());
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      await Promise.race([
        readyP,
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`the guest agent did not start within ${timeoutMs} ms`)), left);
        }),
        this.proc.exited.then(() => {
          throw new Error("QEMU exited before the agent started");
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  private request(req: Record<string, unknown>): Promise<Record<string, unknown>> {
    if (!this.agentSock) throw new Error("no agent");
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.pending.set(id, resolve);
      this.agentSock!.write(JSON.stringify({ ...req, id }) + "\n");
    });
  }

  /** Runs a command in the guest. */
  async run(argv: string[], opts: { timeoutMs?: number; stdin?: string | Uint8Array; cwd?: string; env?: Record<string, string> } = {}): Promise<RunResult> {
    const r = await this.request({
      op: "run",
      argv,
      timeoutMs: opts.timeoutMs ?? 120000,
      ...(opts.stdin !== undefined ? { stdin: Buffer.from(opts.stdin).toString("base64") } : {}),
      ...(opts.cwd ? { cwd: opts.cwd } : {}),
      ...(opts.env ? { env: opts.env } : {}),
    });
    if (r.error) throw new Error(`guest: ${r.error}`);
    return {
      code: r.code as number | null,
      signal: r.signal as string | null,
      stdout: Buffer.from(r.stdout as string, "base64").toString(),
      stderr: Buffer.from(r.stderr as string, "base64").toString(),
      ms: r.ms as number,
    };
  }

  /** Runs a shell command; throws with its output when it fails. */
  async sh(cmd: string, opts: { timeoutMs?: number; allowFail?: boolean } = {}): Promise<string> {
    const r = await this.run(["/bin/sh", "-c", cmd], opts);
    if (r.code !== 0 && !opts.allowFail) throw new Error(`guest command failed (${r.code ?? r.signal}): ${cmd}\n${r.stdout}${r.stderr}`);
    return r.stdout;
  }

  async write(path: string, data: string | Uint8Array, mode?: number): Promise<void> {
    const r = await this.request({ op: "write", path, data: Buffer.from(data).toString("base64"), ...(mode !== undefined ? { mode } : {}) });
    if (r.error) throw new Error(`guest write ${path}: ${r.error}`);
  }

  async read(path: string): Promise<Buffer> {
    const r = await this.request({ op: "read", path });
    if (r.error) throw new Error(`guest read ${path}: ${r.error}`);
    return Buffer.from(r.data as string, "base64");
  }

  /**
   * Reboots the guest for real (`reboot -f` in the guest: QEMU resets the machine, every device
   * included, and boots the same kernel again) and waits for its agent to be back. Needs
   * BootOptions.reboot (with -no-reboot QEMU would exit). Requests still pending fail.
   */
  async reboot(timeoutMs = this.bootTimeoutMs): Promise<void> {
    if (!this.rebootAllowed) throw new Error("the guest was booted without reboot: true (QEMU would exit)");
    if (!this.agentSock) throw new Error("no agent");
    const back = new Promise<void>((r) => this.readyWaiters.push(r));
    // No answer comes: the agent dies with the guest.
    this.agentSock.write(`${JSON.stringify({ op: "run", argv: ["/bin/reboot", "-f"], id: this.nextId++ })}\n`);
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      await Promise.race([
        back,
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`the guest's agent was not back within ${timeoutMs} ms of the reboot`)), timeoutMs);
        }),
        this.proc.exited.then((c) => {
          throw new Error(`QEMU exited (${c}) instead of rebooting`);
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
    for (const [, r] of this.pending) r({ error: "the guest rebooted" });
    this.pending.clear();
  }

  /** Powers the guest off (init stops bunit first) and waits for QEMU. */
  async shutdown(timeoutMs = 30000): Promise<number> {
    if (this.exitCode === null && this.agentSock) {
      void this.request({ op: "run", argv: ["/bin/kill", "-USR2", "1"] }).catch(() => {});
    }
    const t = setTimeout(() => this.proc.kill("SIGKILL"), timeoutMs);
    const c = await this.proc.exited;
    clearTimeout(t);
    this.cleanup();
    return c;
  }

  async kill(): Promise<void> {
    this.proc.kill("SIGKILL");
    await this.proc.exited;
    this.cleanup();
  }

  /** Where host programs reach the guest's vsock port (the back-end's unix socket), if it has one. */
  get vsockUds(): string | null {
    return this.vsockBackend?.uds ?? null;
  }

  private cleanup(): void {
    if (this.ownsBackend) void this.vsockBackend?.stop();
    try {
      this.agentSock?.end();
    } catch {
      /* closed */
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
