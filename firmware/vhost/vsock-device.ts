/**
 * The virtio-vsock device behind vhost-user: two rings (0 rx: to the guest, 1 tx: from the
 * guest; the event queue stays in QEMU), the guest CID in config space, and the glue between
 * the rings and the VsockMux. Pure: it only touches guest memory through SplitQueue.
 */
import type { VhostDevice } from "./backend.ts";
import { type SplitQueue, gather } from "./virtqueue.ts";
import { decodeHeader, HDR_SIZE } from "./vsock-packet.ts";
import type { VsockMux } from "./vsock-mux.ts";

export const RX = 0;
export const TX = 1;

export class VsockDevice implements VhostDevice {
  readonly features = 0n; // stream only: VIRTIO_VSOCK_F_SEQPACKET is not offered
  readonly queueCount = 2;
  mux!: VsockMux;
  /** Signals the guest that ring index has used buffers (set by whoever owns the backend). */
  notify: (index: number) => void = () => {};
  log: (msg: string) => void = () => {};
  private rx: SplitQueue | null = null;
  private tx: SplitQueue | null = null;
  private rxScheduled = false;
  /** Packets carried each way (for status and tests). */
  readonly stats = { fromGuest: 0, toGuest: 0 };

  constructor(readonly guestCid: number) {}

  config(): Uint8Array {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setBigUint64(0, BigInt(this.guestCid), true);
    return b;
  }

  start(index: number, queue: SplitQueue): void {
    if (index === RX) this.rx = queue;
    else this.tx = queue;
    this.kick(index);
  }

  stop(index: number): void {
    if (index === RX) this.rx = null;
    else this.tx = null;
  }

  reset(why: string): void {
    this.rx = this.tx = null;
    this.mux.resetAll(why);
  }

  kick(index: number): void {
    if (index === TX) this.drainTx();
    this.pumpRx();
  }

  /** Fills the rx ring soon (many wake-ups in one turn give one pass). */
  wake(): void {
    if (this.rxScheduled) return;
    this.rxScheduled = true;
    queueMicrotask(() => {
      this.rxScheduled = false;
      this.pumpRx();
    });
  }

  private drainTx(): void {
    const q = this.tx;
    if (!q) return;
    let used = 0;
    for (let c = q.pop(); c; c = q.pop()) {
      try {
        const r = c.readable;
        // The usual layouts: one buffer, or the header and the payload in two.
        const whole = r.length === 1 ? r[0]! : r.length === 2 && r[0]!.length === HDR_SIZE ? null : gather(r);
        const head = whole ?? r[0]!;
        const h = decodeHeader(head);
        const payload = whole ? whole.subarray(HDR_SIZE) : r[1]!;
        this.stats.fromGuest++;
        this.mux.fromGuest(h, payload);
      } catch (e) {
        this.log(`vsock: dropped a malformed packet from the guest: ${e instanceof Error ? e.message : String(e)}`);
      }
      q.push(c.head, 0);
      used++;
    }
    if (used) this.notify(TX);
  }

  pumpRx(): void {
    const q = this.rx;
    if (!q) return;
    let used = 0;
    while (this.mux.hasRxWork()) {
      const c = q.pop();
      if (!c) break;
      const n = this.mux.fillRx(c.writable);
      if (!n) {
        q.unpop();
        break;
      }
      q.push(c.head, n);
      this.stats.toGuest++;
      used++;
    }
    if (used) this.notify(RX);
  }
}
