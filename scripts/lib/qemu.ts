/**
 * Booting built images in QEMU and talking to them: the serial console is captured line by
 * line; with the agent (virtio-serial port "bunit.agent", scripts/guest/agent.ts) tests run
 * commands in the guest and read and write files there. KVM is used when a probe shows it
 * works on this machine (the result is cached), software emulation (TCG, -cpu max) otherwise.
 */
import type { Subprocess } from "bun";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { $ } from "zx";
import type { BoardConfig } from "./board-config.ts";
import { cacheDir, hostArch } from "./paths.ts";

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
}

interface ImageFiles {
  board: BoardConfig;
  kernel: string;
  initramfs: string;
}

function qemuBinary(board: BoardConfig): string {
  return board.arch === "x86_64" ? "qemu-system-x86_64" : "qemu-system-aarch64";
}

export function qemuArgs(img: ImageFiles, accel: "kvm" | "tcg", agentSocket: string | null, cmdline: string): string[] {
  const q = img.board.qemu!;
  const cpu = accel === "kvm" ? "host,-arch-capabilities" : q.cpu;
  const args = [
    "-machine", q.machine, "-accel", accel, "-cpu", cpu, "-m", `${q.memoryMiB}`, "-smp", String(q.smp),
    "-display", "none", "-monitor", "none", "-serial", "stdio", "-no-reboot",
    "-kernel", img.kernel, "-initrd", img.initramfs, "-append", cmdline,
    "-nic", "none",
  ];
  if (agentSocket) {
    args.push("-device", "virtio-serial-pci", "-chardev", `socket,id=agent,path=${agentSocket},server=on,wait=off`, "-device", "virtserialport,chardev=agent,name=bunit.agent");
  }
  if (existsSync("/dev/vhost-vsock")) args.push("-device", `vhost-vsock-pci,guest-cid=${3 + (process.pid % 1000)}`);
  return args;
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
  const p = Bun.spawn([qemuBinary(img.board), ...qemuArgs(img, "kvm", null, `${img.board.kernel.cmdline} bunit.mode=none`)], { stdout: "pipe", stderr: "pipe", stdin: "ignore" });
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

export class Guest {
  readonly console: string[] = [];
  private pending = new Map<number, (v: Record<string, unknown>) => void>();
  private nextId = 1;
  private agentSock: { write(s: string): number; end(): void } | null = null;
  private consoleWaiters: { re: RegExp; resolve: (l: string) => void }[] = [];
  private exitCode: number | null = null;

  private constructor(
    readonly proc: Subprocess<"ignore", "pipe", "pipe">,
    readonly accel: "kvm" | "tcg",
    private readonly dir: string,
    private readonly onConsole?: (l: string) => void,
  ) {
    void this.pumpConsole();
    void proc.exited.then((c) => {
      this.exitCode = c;
      for (const [, r] of this.pending) r({ error: `QEMU exited (${c})` });
      this.pending.clear();
    });
  }

  static async boot(img: ImageFiles, opts: BootOptions = {}): Promise<Guest> {
    const accel = opts.accel && opts.accel !== "auto" ? opts.accel : (await kvmWorks(img)) ? "kvm" : "tcg";
    const dir = mkdtempSync(join(tmpdir(), "bunit-qemu-"));
    const agent = opts.agent !== false;
    const sock = agent ? join(dir, "agent.sock") : null;
    const cmdline = [img.board.kernel.cmdline, `bunit.mode=${opts.mode ?? "daemon"}`, agent ? "bunit.agent=1" : "", opts.extraCmdline ?? ""].filter(Boolean).join(" ");
    const proc = Bun.spawn([qemuBinary(img.board), ...qemuArgs(img, accel, sock, cmdline)], { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
    const g = new Guest(proc, accel, dir, opts.onConsole);
    const timeout = opts.bootTimeoutMs ?? (accel === "kvm" ? 60000 : 180000);
    try {
      if (agent) await g.connectAgent(sock!, timeout);
      else await g.waitConsole(/bunit-init: .* up in/, timeout);
    } catch (e) {
      await g.kill();
      throw new Error(`${(e as Error).message}\n--- console ---\n${g.console.slice(-40).join("\n")}`);
    }
    return g;
  }

  private async pumpConsole(): Promise<void> {
    const dec = new TextDecoder();
    let buf = "";
    const handle = (line: string) => {
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
    let ready!: () => void;
    const readyP = new Promise<void>((r) => (ready = r));
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
            if (msg.id === 0 && msg.ready) ready();
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

  private cleanup(): void {
    try {
      this.agentSock?.end();
    } catch {
      /* closed */
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
