import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import { $ } from "zx";
import { request, TestDaemon, testBinary, testPort, waitFor } from "../support/harness.ts";
import type { ServiceUnit } from "../../firmware/service/service-unit.ts";

$.verbose = false;

describe("Accept=yes: one service instance per connection", () => {
  let d: TestDaemon;
  const port = { http: 0, env: 0, max: 0, src: 0, fds: 0 };
  let report: string;
  beforeAll(async () => {
    report = await testBinary("sd-listen-report", ["libsystemd"]);
    for (const k of Object.keys(port) as (keyof typeof port)[]) port[k] = testPort();
    d = await TestDaemon.start(
      {
        "http.socket": `[Socket]\nListenStream=127.0.0.1:${port.http}\nAccept=yes\n[Install]\nWantedBy=sockets.target\n`,
        "http@.service": "[Service]\nExecStart=/bin/busybox httpd -i -h @DIR@/www\nStandardInput=socket\nStandardError=journal\n",
        "env.socket": `[Socket]\nListenStream=127.0.0.1:${port.env}\nAccept=yes\n[Install]\nWantedBy=sockets.target\n`,
        "env@.service": "[Service]\nExecStart=/bin/sh -c 'echo \"$${REMOTE_ADDR} $${REMOTE_PORT} $${SO_COOKIE} %i\"'\nStandardInput=socket\n",
        "max.socket": `[Socket]\nListenStream=127.0.0.1:${port.max}\nAccept=yes\nMaxConnections=2\n[Install]\nWantedBy=sockets.target\n`,
        "max@.service": "[Service]\nExecStart=/bin/sh -c 'read line; echo got:$$line'\nStandardInput=socket\n",
        "src.socket": `[Socket]\nListenStream=0.0.0.0:${port.src}\nAccept=yes\nMaxConnectionsPerSource=1\n[Install]\nWantedBy=sockets.target\n`,
        "src@.service": "[Service]\nExecStart=/bin/sh -c 'read line; echo got:$$line'\nStandardInput=socket\n",
        "uid.socket": "[Socket]\nListenStream=@DIR@/uid.sock\nAccept=yes\nMaxConnectionsPerSource=1\n[Install]\nWantedBy=sockets.target\n",
        "uid@.service": "[Service]\nExecStart=/bin/sh -c 'read line; echo got:$$line'\nStandardInput=socket\n",
        "fds.socket": `[Socket]\nListenStream=127.0.0.1:${port.fds}\nAccept=yes\nFileDescriptorName=conn\n[Install]\nWantedBy=sockets.target\n`,
        "fds@.service": `[Service]\nExecStart=${report} --file @DIR@/fds.report\n`,
      },
      { boot: false },
    );
    chmodSync(d.dir, 0o755);
    mkdirSync(d.path("www"));
    writeFileSync(d.path("www/index.html"), "<h1>bunit</h1>\n");
    await d.manager.boot();
  });
  afterAll(() => d?.stop());

  test("busybox httpd -i (inetd mode) serves curl", async () => {
    const body = (await $`curl -sS --max-time 5 http://127.0.0.1:${port.http}/index.html`).stdout;
    expect(body).toBe("<h1>bunit</h1>\n");
    const status = (await $`curl -s -o /dev/null -w %{http_code} --max-time 5 http://127.0.0.1:${port.http}/missing`).stdout;
    expect(status).toBe("404");
    const many = await Promise.all(Array.from({ length: 8 }, () => $`curl -sS --max-time 10 http://127.0.0.1:${port.http}/`));
    for (const r of many) expect(r.stdout).toBe("<h1>bunit</h1>\n");
    expect(d.socket("http.socket").connections.nAccepted).toBe(10);
  });

  test("instances are named like systemd's and get REMOTE_ADDR, REMOTE_PORT, SO_COOKIE", async () => {
    const reply = await request({ port: port.env });
    const [addr, rport, cookie, instance] = reply.trim().split(" ");
    expect(addr).toBe("127.0.0.1");
    expect(Number(rport)).toBeGreaterThan(0);
    expect(cookie).toMatch(/^\d+$/);
    // "<n>-<cookie>-<local addr>:<local port>-<remote addr>:<remote port>", n counting from 0.
    expect(instance).toBe(`0-${cookie}-127.0.0.1:${port.env}-127.0.0.1:${rport}`);
  });

  test("a connection fd is passed as fd 3 named 'connection' or FileDescriptorName=", async () => {
    expect(await request({ port: port.fds })).toBe("");
    const rep = await Bun.file(d.path("fds.report")).text();
    expect(rep).toBe("listen_fds=1 pid_ok=1\nfd=3 name=conn kind=inet-stream listening=0 nonblock=0\n");
  });

  test("MaxConnections= refuses connections beyond the limit while instances live", async () => {
    const held = [await openHeld(port.max), await openHeld(port.max)];
    await waitFor(() => d.socket("max.socket").connections.nConnections === 2, 3000, "two connections");
    const third = await request({ port: port.max }, "x\n", 3000);
    expect(third).toBe("");
    expect(d.socket("max.socket").connections.nRefused).toBe(1);
    expect(d.messages("max.socket").join("\n")).toContain("Too many incoming connections (2), dropping connection.");
    for (const h of held) h.send("hi\n");
    expect(await Promise.all(held.map((h) => h.reply))).toEqual(["got:hi\n", "got:hi\n"]);
    await waitFor(() => d.socket("max.socket").connections.nConnections === 0, 3000, "slots released");
    expect(await request({ port: port.max }, "again\n")).toBe("got:again\n");
  });

  test("MaxConnectionsPerSource= counts per IP address", async () => {
    const a = await openHeld(port.src, "127.0.0.1");
    await waitFor(() => d.socket("src.socket").connections.nConnections === 1, 3000, "first connection");
    expect(await request({ port: port.src, host: "127.0.0.1" }, "x\n", 3000)).toBe("");
    // Another source address on loopback is a different source.
    expect((await $`socat - TCP:127.0.0.1:${port.src},bind=127.0.0.2 <<< other`).stdout).toBe("got:other\n");
    a.send("first\n");
    expect(await a.reply).toBe("got:first\n");
    expect(d.socket("src.socket").connections.nRefused).toBe(1);
  });

  test("MaxConnectionsPerSource= counts AF_UNIX peers by UID", async () => {
    const a = await openHeld({ unix: d.path("uid.sock") });
    await waitFor(() => d.socket("uid.socket").connections.nConnections === 1, 3000, "first connection");
    expect(await request({ unix: d.path("uid.sock") }, "x\n", 3000)).toBe("");
    // A peer with another UID is another source.
    const other = (await $`setpriv --reuid=65534 --regid=65534 --clear-groups socat - UNIX-CONNECT:${d.path("uid.sock")} <<< nobody`.nothrow()).stdout;
    expect(other).toBe("got:nobody\n");
    a.send("root\n");
    expect(await a.reply).toBe("got:root\n");
  });

  test("instances are collected once they finish", async () => {
    await waitFor(() => d.manager.loadedUnits().filter((u) => u.name.startsWith("http@")).length === 0, 3000, "instances gone");
    expect(d.manager.loadedUnits().some((u) => (u as ServiceUnit).connection)).toBe(false);
  });
});

/** A connection kept open until send(); reply resolves with what the service wrote. */
async function openHeld(target: number | { unix: string }, host = "127.0.0.1"): Promise<{ send(s: string): void; reply: Promise<string> }> {
  let buf = "";
  let done!: (s: string) => void;
  const reply = new Promise<string>((r) => (done = r));
  const handlers = { data: (_s: unknown, b: Uint8Array) => void (buf += Buffer.from(b).toString()), close: () => done(buf) };
  const s =
    typeof target === "number"
      ? await Bun.connect({ hostname: host, port: target, socket: handlers })
      : await Bun.connect({ unix: target.unix, socket: handlers });
  return { send: (x) => void s.write(x), reply };
}
