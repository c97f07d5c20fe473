/**
 * An Accept=no vsock service on bunit's library: takes the listening socket from LISTEN_FDS
 * (VsockListener.fromListenFds), and for every connection writes "pid PID peer CID" and then
 * echoes what it reads, upper-cased, until EOF. One process serves every connection.
 */
import { VsockListener, type VsockStream } from "../../firmware/lib/vsock.ts";

const listener = VsockListener.fromListenFds({ name: "echo" });
console.error(`vsock-echo-service: listening on port ${listener.port}`);

async function serve(c: VsockStream): Promise<void> {
  await c.write(`pid ${process.pid} peer ${c.peer?.cid}\n`);
  const dec = new TextDecoder();
  for await (const chunk of c.readable) await c.write(dec.decode(chunk, { stream: true }).toUpperCase());
  c.close();
}

for (;;) void serve(await listener.accept());
