/**
 * The TypeScript side of the vsock throughput benchmark: the service job of
 * vsock-sink-source.c ('S' sink, answering the byte count; 'R' source) through bunit's vsock
 * library, on the listening socket an Accept=no unit passes.
 */
import { VsockListener, type VsockStream } from "../../../firmware/lib/vsock.ts";

const CHUNK = 65536;
const listener = VsockListener.fromListenFds();
console.error("ts-sink-source: running");

async function sink(c: VsockStream): Promise<void> {
  let total = 0;
  // The chunks are only counted: views of the stream's buffer spare a copy each.
  for await (const chunk of c.chunks({ views: true })) total += chunk.length;
  const le = new Uint8Array(8);
  new DataView(le.buffer).setBigUint64(0, BigInt(total), true);
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

const mode = new Uint8Array(1);
for (;;) {
  const c = await listener.accept();
  if ((await c.read(mode)) === 1) {
    if (mode[0] === 0x53 /* S */) await sink(c);
    else if (mode[0] === 0x52 /* R */) await source(c);
  }
  c.close();
}
