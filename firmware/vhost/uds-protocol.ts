/**
 * The host side's handshake on the unix socket, the convention of Firecracker's hybrid vsock
 * and rust-vmm's vhost-device-vsock: a host program connects to PATH and writes
 * `CONNECT <port>\n`; the back-end answers `OK <host port>\n` once the guest accepted, and the
 * socket is then a byte stream to the guest's listener. Refusals and malformed lines get
 * `ERR <reason>\n` (an extension: the others just close). Guest connections to CID 2 port P
 * reach a listener at `PATH_P`. Pure: parsing both ends of the exchange.
 */

/** Longest accepted request line, newline included. */
export const MAX_LINE = 64;

export type ConnectLine = { port: number; consumed: number } | { error: string } | null;

/** Parses the start of what a host program wrote; null: no whole line yet (and under MAX_LINE). */
export function parseConnectLine(b: Uint8Array): ConnectLine {
  const nl = b.indexOf(0x0a);
  if (nl < 0) return b.length >= MAX_LINE ? { error: `no CONNECT line within ${MAX_LINE} bytes` } : null;
  if (nl >= MAX_LINE) return { error: `no CONNECT line within ${MAX_LINE} bytes` };
  const line = new TextDecoder().decode(b.subarray(0, nl)).replace(/\r$/, "");
  const m = /^CONNECT ([0-9]{1,10})$/.exec(line);
  if (!m) return { error: `expected "CONNECT <port>", got ${JSON.stringify(line.slice(0, 40))}` };
  const port = Number(m[1]);
  if (port > 0xffff_ffff) return { error: `port ${port} is beyond 32 bits` };
  return { port, consumed: nl + 1 };
}

export type OkLine = { hostPort: number; consumed: number } | { error: string } | null;

/** Parses the back-end's answer (a client's view); null: no whole line yet. */
export function parseOkLine(b: Uint8Array): OkLine {
  const nl = b.indexOf(0x0a);
  if (nl < 0) return b.length >= MAX_LINE ? { error: "no answer line from the vsock back-end" } : null;
  const line = new TextDecoder().decode(b.subarray(0, nl));
  const m = /^OK ([0-9]+)$/.exec(line);
  if (m) return { hostPort: Number(m[1]), consumed: nl + 1 };
  return { error: line.startsWith("ERR ") ? line.slice(4) : `unexpected answer ${JSON.stringify(line.slice(0, 40))}` };
}

/** The listener a guest's connection to host port `port` reaches. */
export const hostListenerPath = (udsPath: string, port: number): string => `${udsPath}_${port}`;
