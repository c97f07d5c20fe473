/**
 * The TypeScript side of the vsock throughput benchmark: the service job of
 * vsock-sink-source.c ('S' sink, answering the byte count; 'R' source) through bunit's vsock
 * library, on the listening socket an Accept=no unit passes.
 */
import { VsockListener, type VsockStream } from "../../../firmware/lib/vsock.ts";

const CHUNK = 65536;
const listener = VsockListener.fromListenFds();
console.error("ts-sink-source: running");

async function sink(c: VsockStream, first: Uint8Array): Promise<void> {
  let total = BigInt(first.length);
  for await (const chunk of c.readable) total += BigInt(chunk.length);
  const le = new Uint8Array(8);
  new DataView(le.buffer).setBigUint64(0, total, true);
  await c.write(le);
}

async function source(c: VsockStream): Promise<void> {
  const buf = new Uint8Array(CHUNK).fill(0x5a);
  try {
    for (;;) await c.write(buf);
  } catch {
    // the client went away
  }
}

for (;;) {
  const c = await listener.accept();
  const reader = c.readable.getReader();
  const r = await reader.read();
  reader.releaseLock();
  if (!r.done && r.value.length) {
    if (r.value[0] === 0x53 /* S */) await sink(c, r.value.subarray(1));
    else if (r.value[0] === 0x52 /* R */) await source(c);
  }
  c.close();
}
