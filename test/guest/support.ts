/** Helpers for guest tests: a bunit daemon as a child process, and polling. */
import { mkdirSync, readdirSync, readFileSync } from "node:fs";

export async function waitFor(pred: () => boolean | Promise<boolean>, timeoutMs: number, what: string, everyMs = 50): Promise<void> {
  const end = performance.now() + timeoutMs;
  for (;;) {
    if (await pred()) return;
    if (performance.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await Bun.sleep(everyMs);
  }
}

/**
 * Whether the USB device with this product id (4 hex digits, as in sysfs) has its configuration
 * set by the kernel: node-usb takes the endpoints from the device as it finds it, so a client
 * opens it only then.
 */
export function usbConfigured(productId: string): boolean {
  for (const e of readdirSync("/sys/bus/usb/devices")) {
    const dir = `/sys/bus/usb/devices/${e}`;
    try {
      if (readFileSync(`${dir}/idProduct`, "utf8").trim() === productId) return readFileSync(`${dir}/bConfigurationValue`, "utf8").trim() === "1";
    } catch {}
  }
  return false;
}

/** `bunit daemon --units DIR [--gadget FILE]`, its stderr collected. */
export class UsbDaemon {
  private chunks: string[] = [];
  private exited: Promise<number>;
  private constructor(readonly proc: Bun.Subprocess<"ignore", "inherit", "pipe">) {
    const dec = new TextDecoder();
    const pump = (async () => {
      for await (const c of proc.stderr) this.chunks.push(dec.decode(c, { stream: true }));
    })();
    this.exited = Promise.all([proc.exited, pump]).then(([code]) => code);
  }

  static async start(units: string, gadget?: string, extra: string[] = []): Promise<UsbDaemon> {
    mkdirSync(units, { recursive: true });
    const proc = Bun.spawn(
      [
        "/usr/bin/bun",
        "/usr/lib/bunit/firmware/cli.ts",
        "daemon",
        "--units",
        units,
        "--control",
        `${units}.control/control`,
        ...(gadget ? ["--gadget", gadget] : []),
        ...extra,
      ],
      {
        stdin: "ignore",
        stdout: "inherit",
        stderr: "pipe",
      },
    );
    return new UsbDaemon(proc);
  }

  log(): string {
    return this.chunks.join("");
  }

  async waitLog(re: RegExp, timeoutMs = 20000): Promise<void> {
    try {
      await waitFor(() => re.test(this.log()), timeoutMs, `${re} in the daemon's log`);
    } catch (e) {
      throw new Error(`${(e as Error).message}\n--- daemon log ---\n${this.log()}`);
    }
  }

  private stopped = false;
  async stop(): Promise<number> {
    if (!this.stopped) {
      this.stopped = true;
      this.proc.kill("SIGTERM");
    }
    return this.exited;
  }
}
