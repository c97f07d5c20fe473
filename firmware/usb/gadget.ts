/**
 * Composes a USB gadget in configfs from a GadgetConfig and binds it to a UDC only when every
 * FunctionFS function has its descriptors (the kernel refuses to bind before: ENODEV).
 *
 *   compose()   gadget directory, device attributes, strings, functions (FunctionFS instances
 *               mounted), configurations with their function links; a stale gadget of the same
 *               name is removed first.
 *   bind()      waits (retrying) until every FunctionFS mount is ready and a UDC exists, then
 *               writes the UDC name; fails after bind_timeout with a message naming what is
 *               missing ("no UDC in /sys/class/udc", "ffs.x has no descriptors").
 *   supervise() binds again when the kernel unbound the gadget because a FunctionFS ep0 was
 *               closed (a socket restarted) and the function is ready again.
 *   unbind(), teardown()  the reverse, from what is on disk (so a half-composed gadget goes too).
 *
 * The file system and mount calls go through GadgetIo so that the order of operations can be
 * tested on a plain directory.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, unlinkSync, writeFileSync, lstatSync } from "node:fs";
import { join } from "node:path";
import type { Clock, Timer } from "../core/clock.ts";
import { errorText } from "../core/errors.ts";
import type { GadgetConfig } from "./gadget-config.ts";

export interface GadgetIo {
  /** /sys/kernel/config/usb_gadget */
  gadgetRoot: string;
  /** /sys/class/udc */
  udcClass: string;
  mountFfs(instance: string, path: string): void;
  /** Mount points of FunctionFS instance `instance` (from /proc/mounts). */
  ffsMounts(instance: string): string[];
  umount(path: string): void;
  /** rmdir(2); configfs removes a directory together with its attribute files. */
  rmdir(path: string): void;
  /** Whether the FunctionFS mount has its descriptors (written by a socket, or by a service). */
  functionReady(mount: string): boolean;
  onReadyChange(fn: () => void): () => void;
  clock: Clock;
  log: { info(m: string): void; warning(m: string): void; error(m: string): void; debug(m: string): void };
}

export class GadgetError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "GadgetError";
  }
}

const hex4 = (v: number) => `0x${v.toString(16).padStart(4, "0")}`;
const hex2 = (v: number) => `0x${v.toString(16).padStart(2, "0")}`;
const RETRY_USEC = 200_000;

export type GadgetState = "down" | "composed" | "binding" | "bound" | "failed";

export class Gadget {
  state: GadgetState = "down";
  udc = "";
  private wantBound = false;
  private unsubscribe: (() => void) | undefined;

  constructor(
    readonly cfg: GadgetConfig,
    private readonly io: GadgetIo,
  ) {}

  get dir(): string {
    return join(this.io.gadgetRoot, this.cfg.name);
  }

  /** Builds the configfs tree and mounts the FunctionFS instances. */
  compose(): void {
    const { cfg, io } = this;
    if (!existsSync(io.gadgetRoot)) throw new GadgetError(`${io.gadgetRoot} does not exist: configfs is not mounted or libcomposite is not loaded`);
    if (existsSync(this.dir)) {
      io.log.warning(`gadget ${cfg.name}: a gadget of this name exists already (left from an earlier run?), removing it`);
      this.teardown();
    }
    try {
      mkdirSync(this.dir);
      const d = cfg.device;
      const attrs: [string, string][] = [
        ["idVendor", hex4(d.idVendor)],
        ["idProduct", hex4(d.idProduct)],
        ["bcdDevice", hex4(d.bcdDevice)],
        ["bcdUSB", hex4(d.bcdUSB)],
        ["bDeviceClass", hex2(d.bDeviceClass)],
        ["bDeviceSubClass", hex2(d.bDeviceSubClass)],
        ["bDeviceProtocol", hex2(d.bDeviceProtocol)],
        ["bMaxPacketSize0", String(d.bMaxPacketSize0)],
      ];
      for (const [k, v] of attrs) this.attr(this.dir, k, v);
      for (const [lang, strs] of Object.entries(cfg.strings)) {
        const sd = join(this.dir, "strings", lang);
        mkdirSync(sd, { recursive: true });
        for (const [k, v] of Object.entries(strs)) this.attr(sd, k, v);
      }
      for (const f of cfg.functions) {
        const fd = join(this.dir, "functions", f.id);
        mkdirSync(fd, { recursive: true });
        for (const [k, v] of Object.entries(f.attrs)) this.attr(fd, k, v);
        if (f.mount) {
          mkdirSync(f.mount, { recursive: true });
          io.mountFfs(f.instance, f.mount);
        }
      }
      cfg.configs.forEach((c, i) => {
        const cd = join(this.dir, "configs", `c.${i + 1}`);
        mkdirSync(cd, { recursive: true });
        this.attr(cd, "MaxPower", String(c.maxPower));
        this.attr(cd, "bmAttributes", hex2(c.attributes));
        for (const lang of Object.keys(cfg.strings).length ? Object.keys(cfg.strings) : ["0x0409"]) {
          mkdirSync(join(cd, "strings", lang), { recursive: true });
          this.attr(join(cd, "strings", lang), "configuration", c.label);
        }
        for (const id of c.functions) symlinkSync(join(this.dir, "functions", id), join(cd, id));
      });
    } catch (e) {
      const msg = `gadget ${cfg.name}: composing in ${this.dir} failed: ${errorText(e)}`;
      try {
        this.teardown();
      } catch {}
      this.state = "failed";
      throw new GadgetError(msg);
    }
    this.state = "composed";
    const ffs = cfg.functions.filter((f) => f.mount).map((f) => `${f.id} at ${f.mount}`);
    io.log.info(
      `gadget ${cfg.name}: composed (${hex4(cfg.device.idVendor)}:${hex4(cfg.device.idProduct)}, ${cfg.functions.length} functions${ffs.length ? `; FunctionFS ${ffs.join(", ")}` : ""})`,
    );
  }

  private attr(dir: string, name: string, value: string): void {
    try {
      writeFileSync(join(dir, name), value + "\n");
    } catch (e) {
      throw new GadgetError(`${join(dir, name)} = ${JSON.stringify(value)}: ${errorText(e)}`);
    }
  }

  /** What still keeps the gadget from binding, or [] when it can bind now. */
  missing(): string[] {
    const out: string[] = [];
    for (const f of this.cfg.functions)
      if (f.mount && !this.io.functionReady(f.mount)) out.push(`${f.id} has no descriptors yet (no ListenUSBFunction=${f.mount} socket has written them)`);
    if (!this.pickUdc())
      out.push(
        this.cfg.udc === "auto"
          ? `no USB Device Controller in ${this.io.udcClass} (load the board's UDC driver: dwc2, dummy_hcd, ...)`
          : `UDC ${this.cfg.udc} does not exist in ${this.io.udcClass}`,
      );
    return out;
  }

  private pickUdc(): string | undefined {
    let udcs: string[] = [];
    try {
      udcs = readdirSync(this.io.udcClass).sort();
    } catch {}
    return this.cfg.udc === "auto" ? udcs[0] : udcs.find((u) => u === this.cfg.udc);
  }

  /** The UDC the gadget is bound to, as the kernel says ("" when unbound). */
  boundUdc(): string {
    try {
      return readFileSync(join(this.dir, "UDC"), "utf8").trim();
    } catch {
      return "";
    }
  }

  /** Waits until the gadget can bind, binds it, resolves with the UDC name. */
  bind(timeoutMs = this.cfg.bindTimeoutMs): Promise<string> {
    if (this.state === "down" || this.state === "failed") return Promise.reject(new GadgetError(`gadget ${this.cfg.name} is not composed`));
    this.wantBound = true;
    this.state = "binding";
    const deadline = this.io.clock.now() + timeoutMs * 1000;
    return new Promise((resolve, reject) => {
      let timer: Timer | undefined;
      let lastError = "";
      const done = () => {
        timer?.cancel();
        unsub();
      };
      const attempt = () => {
        timer?.cancel();
        if (!this.wantBound) {
          done();
          return reject(new GadgetError(`gadget ${this.cfg.name}: unbound while waiting to bind`));
        }
        const missing = this.missing();
        if (missing.length === 0) {
          const udc = this.pickUdc()!;
          try {
            writeFileSync(join(this.dir, "UDC"), udc + "\n");
            this.udc = udc;
            this.state = "bound";
            this.io.log.info(`gadget ${this.cfg.name}: bound to ${udc}`);
            done();
            return resolve(udc);
          } catch (e) {
            // EBUSY (the UDC serves another gadget), ENODEV (a function changed meanwhile): retry.
            lastError = `writing ${udc} to ${join(this.dir, "UDC")}: ${errorText(e)}`;
          }
        } else lastError = missing.join("; ");
        if (this.io.clock.now() >= deadline) {
          done();
          this.state = "composed";
          this.wantBound = false;
          return reject(new GadgetError(`gadget ${this.cfg.name}: cannot bind after ${timeoutMs / 1000} s: ${lastError}`));
        }
        timer = this.io.clock.setTimer(RETRY_USEC, attempt);
      };
      const unsub = this.io.onReadyChange(() => {
        if (this.state === "binding") attempt();
      });
      attempt();
    });
  }

  /**
   * Keeps the gadget bound: when the kernel unbinds it because a FunctionFS ep0 was closed
   * (the socket stopped), it is bound again once every function is ready again.
   */
  supervise(): void {
    this.unsubscribe?.();
    this.unsubscribe = this.io.onReadyChange(() => {
      if (!this.wantBound || this.state === "binding") return;
      if (this.boundUdc()) return;
      if (this.state === "bound") this.io.log.info(`gadget ${this.cfg.name}: the kernel unbound it (a FunctionFS function closed); binding again when ready`);
      this.state = "composed";
      this.bind().catch((e) => this.io.log.error(errorText(e)));
    });
  }

  /** Takes over the gadget a previous daemon process composed (daemon-reexec); false when there is none. */
  adopt(): boolean {
    if (!existsSync(this.dir)) return false;
    this.wantBound = true;
    this.udc = this.boundUdc();
    this.state = this.udc ? "bound" : "composed";
    this.io.log.info(`gadget ${this.cfg.name}: adopted (${this.udc ? `bound to ${this.udc}` : "not bound"})`);
    return true;
  }

  /** Detaches the gadget from its UDC (the host sees an unplug). */
  unbind(): void {
    this.wantBound = false;
    if (this.boundUdc()) {
      writeFileSync(join(this.dir, "UDC"), "\n");
      this.io.log.info(`gadget ${this.cfg.name}: unbound from ${this.udc || "its UDC"}`);
    }
    if (this.state === "bound" || this.state === "binding") this.state = "composed";
  }

  /** Removes the gadget from configfs, FunctionFS mounts included, from what is on disk. */
  teardown(): void {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    const g = this.dir;
    if (!existsSync(g)) {
      this.state = "down";
      return;
    }
    this.unbind();
    const ls = (d: string) => {
      try {
        return readdirSync(d);
      } catch {
        return [];
      }
    };
    for (const c of ls(join(g, "configs"))) {
      const cd = join(g, "configs", c);
      for (const e of ls(cd)) if (lstatSync(join(cd, e)).isSymbolicLink()) unlinkSync(join(cd, e));
      for (const lang of ls(join(cd, "strings"))) this.io.rmdir(join(cd, "strings", lang));
      this.io.rmdir(cd);
    }
    for (const f of ls(join(g, "functions"))) {
      if (f.startsWith("ffs.")) for (const m of this.io.ffsMounts(f.slice(4))) this.io.umount(m);
      this.io.rmdir(join(g, "functions", f));
    }
    for (const lang of ls(join(g, "strings"))) this.io.rmdir(join(g, "strings", lang));
    this.io.rmdir(g);
    this.state = "down";
    this.io.log.info(`gadget ${this.cfg.name}: removed`);
  }
}
