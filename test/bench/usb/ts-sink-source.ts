/**
 * The TypeScript side of the FunctionFS bulk benchmark: the same job as ffs-aio-ref.c through
 * bunit's library. ep1 (bulk OUT) is drained with reader(), ep2 (bulk IN) fed with send(),
 * DEPTH requests of SIZE bytes in flight each way ($FFS_DEPTH and $FFS_SIZE, as for the C
 * reference).
 */
import { FunctionFs } from "../../../firmware/usb/functionfs.ts";

const DEPTH = Number(process.env.FFS_DEPTH ?? 8);
const SIZE = Number(process.env.FFS_SIZE ?? 65536);
const f = FunctionFs.fromListenFds();
console.error(`ts-sink-source: running (${DEPTH} x ${SIZE} bytes)`);

async function sink(): Promise<void> {
  for await (const _ of f.endpoint(1).reader({ size: SIZE, depth: DEPTH, views: true })) {
    // discard
  }
}

async function source(): Promise<void> {
  const ep = f.endpoint(2);
  const buf = new Uint8Array(SIZE).fill(0xa5);
  for (;;) {
    try {
      await ep.send(buf, DEPTH);
    } catch {
      await f.whenEnabled();
    }
  }
}

await Promise.all([sink(), source()]);
