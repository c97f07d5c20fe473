/**
 * A unix peer names itself: whatever it bound must not pass for an IP peer or inject anything.
 * systemd (v257+) sets REMOTE_ADDR for an AF_UNIX peer only when its name is an absolute path or
 * abstract (escaped with cescape()), never REMOTE_PORT; an unnamed or relative-named peer gets
 * neither. Before: a client bound to "127.0.0.1" got REMOTE_ADDR=127.0.0.1, and a newline or an
 * escape sequence in the name reached the service's environment and the logs raw.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import * as n from "../../firmware/native.ts";
import * as C from "../../firmware/sys/constants.ts";
import { TestDaemon, waitFor } from "../support/harness.ts";

let d: TestDaemon;
beforeAll(async () => {
  d = await TestDaemon.start({
    "peer.socket": "[Socket]\nListenStream=@DIR@/peer.sock\nAccept=yes\n[Install]\nWantedBy=sockets.target\n",
    "peer@.service": `[Service]\nExecStart=/bin/sh -c 'printf "%%s|%%s" "$\${REMOTE_ADDR-unset}" "$\${REMOTE_PORT-unset}"'\nStandardOutput=socket\n`,
  });
});
afterAll(() => d?.stop());

/** Connects from a client bound to `name` (null: unbound) and returns what the instance printed. */
async function askAs(name: { path: string; abstract: boolean } | null): Promise<string> {
  const fd = n.socket(C.AF_UNIX, C.SOCK_STREAM);
  try {
    if (name) n.bind(fd, { family: "unix", ...name });
    n.connect(fd, { family: "unix", path: d.path("peer.sock"), abstract: false });
    const buf = new Uint8Array(4096);
    let out = "";
    let eof = false;
    await waitFor(
      () => {
        for (;;) {
          let r: number | null;
          try {
            r = n.read(fd, buf);
          } catch {
            eof = true;
            return true;
          }
          if (r === null) return false;
          if (r === 0) {
            eof = true;
            return true;
          }
          out += new TextDecoder().decode(buf.subarray(0, r));
        }
      },
      10_000,
      "the instance's answer",
    );
    expect(eof).toBe(true);
    return out;
  } finally {
    n.close(fd);
  }
}

describe("REMOTE_ADDR of unix peers", () => {
  test("a client bound to the relative name 127.0.0.1 gets no REMOTE_ADDR (and no REMOTE_PORT)", async () => {
    const cwd = process.cwd();
    process.chdir(d.dir);
    try {
      expect(await askAs({ path: "127.0.0.1", abstract: false })).toBe("unset|unset");
    } finally {
      process.chdir(cwd);
    }
  }, 15_000);

  test("an unbound client gets none either", async () => {
    expect(await askAs(null)).toBe("unset|unset");
  }, 15_000);

  test("an absolute path with a newline and an ESC sequence: REMOTE_ADDR escaped, one line", async () => {
    const path = join(d.dir, "x\nREMOTE_ADDR=10.0.0.1\x1b[2J");
    expect(await askAs({ path, abstract: false })).toBe(`${d.dir}/x\\nREMOTE_ADDR=10.0.0.1\\033[2J|unset`);
  }, 15_000);

  test("an abstract name: '@' and the escaped name, including quotes and backslashes", async () => {
    const name = `bunit-sec-${process.pid}\t"q'\\`;
    expect(await askAs({ path: name, abstract: true })).toBe(`@bunit-sec-${process.pid}\\t\\"q\\'\\\\|unset`);
  }, 15_000);
});
