/**
 * libsystemd's own sd_listen_fds_with_names() (Debian package python3-systemd, whose
 * systemd.daemon.listen_fds_with_names() calls it) reading what bunit passes: two socket units
 * with FileDescriptorName= feeding one Type=notify service through Sockets=. No Debian 12
 * daemon found that calls sd_listen_fds_with_names() (rpcbind, sshd, uuidd, saned, pcscd and
 * libdbus call sd_listen_fds()), so this case uses the library itself with a few lines of
 * Python as the service; its units are the test's own, not a package's.
 */
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { $ } from "zx";
import { testPort } from "../support/harness.ts";
import { BunitDaemon, installPackages } from "./setup.ts";

$.verbose = false;
setDefaultTimeout(30_000);

const SERVE = `
import json, selectors, socket
from systemd import daemon
names = daemon.listen_fds_with_names()  # libsystemd: checks LISTEN_PID, splits LISTEN_FDNAMES
daemon.notify("READY=1")
sel = selectors.DefaultSelector()
for fd, name in names.items():
    sel.register(socket.socket(fileno=fd), selectors.EVENT_READ, name)
while True:
    for key, _ in sel.select():
        c, _ = key.fileobj.accept()
        c.sendall(json.dumps({"via": key.data, "names": sorted(names.values()), "fds": sorted(names)}).encode())
        c.close()
`;

let d: BunitDaemon;
let port: number;

beforeAll(async () => {
  await installPackages(["python3-systemd", "socat"]);
  port = testPort();
  d = await BunitDaemon.start(
    {
      "../serve.py": SERVE,
      "alpha.socket": "[Socket]\nListenStream=@DIR@/alpha.sock\nFileDescriptorName=alpha\nService=names.service\n[Install]\nWantedBy=sockets.target\n",
      "beta.socket": `[Socket]\nListenStream=@DIR@/beta.sock\nListenStream=127.0.0.1:${port}\nFileDescriptorName=beta\nService=names.service\n[Install]\nWantedBy=sockets.target\n`,
      "names.service":
        "[Unit]\nRequires=alpha.socket beta.socket\n[Service]\nType=notify\nExecStart=/usr/bin/python3 @DIR@/serve.py\nSockets=alpha.socket beta.socket\n",
    },
    ["alpha.socket", "beta.socket"],
  );
}, 600_000); // a fresh machine runs apt-get update and installs the packages first

afterAll(async () => {
  await d?.stop();
});

/** One connection with socat (reads until the service closes). */
const ask = async (addr: string): Promise<Answer> => JSON.parse((await $`timeout 10 socat -u ${addr} -`).stdout) as Answer;

interface Answer {
  via: string;
  names: string[];
  fds: number[];
}

test("sd_listen_fds_with_names() sees three fds from 3 on, named alpha, beta, beta; each socket answers with its name", async () => {
  expect(await d.sub("names.service")).toBe("dead");
  const a = await ask(`UNIX-CONNECT:${d.path("alpha.sock")}`);
  expect(a).toEqual({ via: "alpha", names: ["alpha", "beta", "beta"], fds: [3, 4, 5] });
  await d.waitSub("names.service", "running"); // READY=1 through libsystemd's sd_notify()
  const b = await ask(`TCP:127.0.0.1:${port}`);
  expect(b.via).toBe("beta");
  const b2 = await ask(`UNIX-CONNECT:${d.path("beta.sock")}`);
  expect(b2.via).toBe("beta");
});
