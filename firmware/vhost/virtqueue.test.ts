/** The split virtqueue against rings a fake driver laid out in memory. */
import { describe, expect, test } from "bun:test";
import { FakeDriver, FakeGuestMemory } from "./fake-driver.ts";
import { DESC_F_NEXT, SplitQueue, writeChain } from "./virtqueue.ts";

const text = (b: Uint8Array) => new TextDecoder().decode(b);
const bytes = (s: string) => new TextEncoder().encode(s);

function setup(size = 8) {
  const mem = new FakeGuestMemory();
  const drv = new FakeDriver(mem, size);
  const q = new SplitQueue(mem.memory(), size, drv.addresses());
  return { mem, drv, q };
}

describe("SplitQueue", () => {
  test("nothing available: pop() is null", () => {
    expect(setup().q.pop()).toBeNull();
  });

  test("a chain of readable then writable descriptors, in order, as views of guest memory", () => {
    const { drv, q } = setup();
    const head = drv.offer([{ data: bytes("hello ") }, { data: bytes("world") }, { writable: 8 }, { writable: 4 }]);
    const c = q.pop()!;
    expect(c.head).toBe(head);
    expect(c.readable.map(text)).toEqual(["hello ", "world"]);
    expect(c.writable.map((w) => w.length)).toEqual([8, 4]);
    expect(writeChain(c.writable, bytes("0123456789"))).toBe(10);
    q.push(c.head, 10);
    const used = drv.takeUsed();
    expect(used).toHaveLength(1);
    expect(used[0]!.head).toBe(head);
    expect(text(used[0]!.written)).toBe("0123456789");
    expect(q.pop()).toBeNull();
  });

  test("indirect descriptors", () => {
    const { drv, q } = setup();
    drv.offer([{ data: bytes("hdr") }, { data: bytes("payload") }], { indirect: true });
    const c = q.pop()!;
    expect(c.readable.map(text)).toEqual(["hdr", "payload"]);
  });

  test("many chains wrap the free-running indices", () => {
    const { drv, q, mem } = setup(4);
    const m = mem.mark();
    for (let i = 0; i < 70_000; i += 1) {
      drv.offer([{ data: bytes(`m${i}`) }]);
      const c = q.pop()!;
      if (i % 9999 === 0) expect(text(c.readable[0]!)).toBe(`m${i}`);
      q.push(c.head, 0);
      drv.takeUsed();
      mem.rewind(m);
    }
    expect(q.lastAvail).toBe(70_000 & 0xffff);
  }, 20_000);

  test("unpop() gives the same chain again", () => {
    const { drv, q } = setup();
    drv.offer([{ writable: 16 }]);
    const a = q.pop()!;
    q.unpop();
    expect(q.pop()!.head).toBe(a.head);
  });

  test("a looping chain, an out-of-range next and an address outside memory are refused", () => {
    const { drv, q, mem } = setup();
    const buf = mem.alloc(8);
    drv.rawDesc(0, buf, 8, DESC_F_NEXT, 1);
    drv.rawDesc(1, buf, 8, DESC_F_NEXT, 0);
    drv.publishHead(0);
    expect(() => q.pop()).toThrow("loops");
    drv.rawDesc(2, buf, 8, DESC_F_NEXT, 99);
    drv.publishHead(2);
    expect(() => q.pop()).toThrow("beyond the table");
    drv.rawDesc(3, 0x7fff_ffff, 8, 0, 0);
    drv.publishHead(3);
    expect(() => q.pop()).toThrow("outside guest memory");
    drv.publishHead(42);
    expect(() => q.pop()).toThrow("beyond the queue size");
  });

  test("interrupts follow VRING_AVAIL_F_NO_INTERRUPT", () => {
    const { drv, q } = setup();
    expect(q.wantsInterrupt()).toBe(true);
    drv.setNoInterrupt(true);
    expect(q.wantsInterrupt()).toBe(false);
  });

  test("a queue size that is not a power of 2 is refused", () => {
    const mem = new FakeGuestMemory();
    expect(() => new SplitQueue(mem.memory(), 12, new FakeDriver(mem, 16).addresses())).toThrow("power of 2");
  });
});
