/**
 * A QEMU guest driven only through its serial console (boards without virtio, such as the
 * emulated Raspberry Pi): every console line is kept with the host time it arrived; commands
 * are typed into the root shell the image keeps on the console, and their output is what the
 * console shows between the typed line and an end marker carrying the exit status.
 */
import type { Subprocess } from "bun";
import { appendFileSync } from "node:fs";

export interface ConsoleLine {
  text: string;
  /** performance.now() when the line arrived. */
  at: number;
}

export class SerialGuest {
  readonly lines: ConsoleLine[] = [];
  readonly startedAt = performance.now();
  private readonly proc: Subprocess<"pipe", "pipe", "inherit">;
  private waiters: { re: RegExp; from: number; resolve: (l: ConsoleLine) => void }[] = [];
  private seq = 0;
  private exitCode: number | null = null;
  private readonly consoleLog: string | null;

  /** consoleLog: a file every console line is appended to as it arrives (for people). */
  constructor(argv: string[], consoleLog: string | null = null) {
    this.consoleLog = consoleLog;
    this.proc = Bun.spawn(argv, { stdin: "pipe", stdout: "pipe", stderr: "inherit" });
    void this.pump();
    void this.proc.exited.then((c) => {
      this.exitCode = c;
    });
  }

  private async pump(): Promise<void> {
    const dec = new TextDecoder();
    let buf = "";
    for await (const chunk of this.proc.stdout) {
      buf += dec.decode(chunk, { stream: true });
      let nl: number;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const line: ConsoleLine = { text: buf.slice(0, nl).replace(/\r$/, ""), at: performance.now() };
        buf = buf.slice(nl + 1);
        this.lines.push(line);
        if (this.consoleLog) appendFileSync(this.consoleLog, line.text + "\n");
        const index = this.lines.length - 1;
        for (const w of [...this.waiters]) {
          if (index >= w.from && w.re.test(line.text)) {
            this.waiters = this.waiters.filter((x) => x !== w);
            w.resolve(line);
          }
        }
      }
    }
  }

  /** The first console line from index `from` on matching re (already seen or future). */
  waitFor(re: RegExp, timeoutMs: number, from = 0): Promise<ConsoleLine> {
    const seen = this.lines.slice(from).find((l) => re.test(l.text));
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const w = { re, from, resolve: (l: ConsoleLine) => (clearTimeout(t), resolve(l)) };
      const t = setTimeout(() => {
        this.waiters = this.waiters.filter((x) => x !== w);
        const why = this.exitCode !== null ? `QEMU exited (${this.exitCode})` : `timed out after ${timeoutMs} ms`;
        reject(new Error(`${why} waiting for ${re} on the console\n--- console ---\n${this.tail(40)}`));
      }, timeoutMs);
      this.waiters.push(w);
    });
  }

  tail(n: number): string {
    return this.lines
      .slice(-n)
      .map((l) => l.text)
      .join("\n");
  }

  type(text: string): void {
    this.proc.stdin.write(text);
    this.proc.stdin.flush();
  }

  /** Runs a command in the console's shell; resolves with its output lines and exit status. */
  async sh(cmd: string, timeoutMs = 60_000): Promise<{ out: string; code: number }> {
    const n = ++this.seq;
    const from = this.lines.length;
    // The marker is split in the typed text so that the shell's echo of it never matches.
    this.type(`${cmd}; echo "@@""end${n} $?"\n`);
    const end = await this.waitFor(new RegExp(`^@@end${n} (\\d+)$`), timeoutMs, from);
    const endIndex = this.lines.indexOf(end, from);
    const body = this.lines
      .slice(from, endIndex)
      .map((l) => l.text)
      .filter((l) => !l.includes(`"@@""end${n}`));
    return { out: body.join("\n"), code: Number(/ (\d+)$/.exec(end.text)![1]) };
  }

  /** Resolves with QEMU's exit code when it exits by itself (a reset under -no-reboot, a power-off). */
  async exited(timeoutMs: number): Promise<number> {
    let t: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      t = setTimeout(() => reject(new Error(`QEMU still running after ${timeoutMs} ms\n--- console ---\n${this.tail(20)}`)), timeoutMs);
    });
    try {
      return await Promise.race([this.proc.exited, timeout]);
    } finally {
      clearTimeout(t);
    }
  }

  async kill(): Promise<void> {
    this.proc.kill("SIGKILL");
    await this.proc.exited;
  }
}
