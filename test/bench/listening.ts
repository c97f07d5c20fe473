/** Whether TCP ports listen on IPv4, from one read of /proc/net/tcp (the host benchmarks and the in-board start-up benchmark). */
import { readFileSync } from "node:fs";

export function allListening(ports: readonly number[]): boolean {
  const tcp = readFileSync("/proc/net/tcp", "utf8");
  return ports.every((port) => tcp.includes(`:${port.toString(16).toUpperCase().padStart(4, "0")} 00000000:0000 0A`));
}
