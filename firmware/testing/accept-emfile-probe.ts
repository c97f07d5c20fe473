/** Run by accept-connection.test.ts under `prlimit --nofile=64:64`: acceptOne() at EMFILE. */
import { openSync } from "node:fs";
import * as n from "../native.ts";
import * as C from "../sys/constants.ts";
import { acceptOne } from "../socket/accept-connection.ts";
import { parseIPv4 } from "../sys/ip.ts";
import type { OpenedPort } from "../socket/socket-open.ts";
import type { SocketConfig } from "../unit/socket-config.ts";

const lfd = n.socket(C.AF_INET, C.SOCK_STREAM);
n.bind(lfd, { family: "inet", addr: parseIPv4("127.0.0.1")!, port: 0 });
n.listen(lfd, 8);
const addr = n.getsockname(lfd)!;
const client = n.socket(C.AF_INET, C.SOCK_STREAM);
n.connect(client, addr);
const filler: number[] = [];
for (;;) {
  try {
    filler.push(openSync("/dev/null", "r"));
  } catch {
    break;
  }
}
const port = { fd: lfd, aux: [], family: "inet", port: { kind: "stream", text: "127.0.0.1" } } as unknown as OpenedPort;
const cfg = { xattrAccept: [] } as unknown as SocketConfig;
const log = { debug: () => {}, info: () => {}, notice: () => {}, warning: (m: string) => process.stderr.write(`${m}\n`), error: () => {} };
const atLimit = acceptOne(port, cfg, log as never);
n.close(filler.pop()!);
n.close(filler.pop()!);
const after = acceptOne(port, cfg, log as never);
process.stdout.write(JSON.stringify({ atLimit, afterClose: after && after !== "exhausted" ? "accepted" : String(after) }));
