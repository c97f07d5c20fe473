import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { UnitLoader } from "./unit-loader.ts";
import { TEST_HOST } from "../../test/support/host.ts";

const root = mkdtempSync(join(tmpdir(), "bunit-loader-"));
const etc = join(root, "etc");
const lib = join(root, "lib");
function put(path: string, text: string) {
  mkdirSync(join(path, ".."), { recursive: true });
  writeFileSync(path, text);
}
afterAll(() => rmSync(root, { recursive: true, force: true }));

put(join(lib, "echo@.service"), "[Unit]\nDescription=Echo for %i\n[Service]\nExecStart=/bin/cat\nEnvironment=A=lib\n");
put(join(lib, "echo.socket"), "[Socket]\nListenStream=%t/echo.sock\nAccept=yes\n[Install]\nWantedBy=sockets.target\n");
put(join(etc, "echo.socket.d", "10-port.conf"), "[Socket]\nListenStream=7777\n");
put(join(lib, "echo.socket.d", "10-port.conf"), "[Socket]\nListenStream=1111\n"); // hidden by etc's same name
put(join(lib, "echo.socket.d", "20-backlog.conf"), "[Socket]\nBacklog=5\n");
put(join(lib, "socket.d", "00-all.conf"), "[Socket]\nKeepAlive=yes\n");
put(join(lib, "echo@.service.d", "50-env.conf"), "[Service]\nEnvironment=B=template\n");
put(join(lib, "echo@one.service.d", "60-env.conf"), "[Service]\nEnvironment=C=instance\n");
put(join(lib, "a-b-c.service"), "[Service]\nExecStart=/bin/true\n");
put(join(lib, "a-.service.d", "1.conf"), "[Service]\nEnvironment=P1=a\n");
put(join(lib, "a-b-.service.d", "2.conf"), "[Service]\nEnvironment=P2=ab\n");
put(join(lib, "real.service"), "[Service]\nExecStart=/bin/true\n");
symlinkSync(join(lib, "real.service"), join(lib, "alias.service"));
mkdirSync(etc, { recursive: true });
symlinkSync("/dev/null", join(etc, "real2.service"));
put(join(lib, "real2.service"), "[Service]\nExecStart=/bin/true\n");
put(join(lib, "multi-user.target"), "[Unit]\nDescription=m\n");
mkdirSync(join(etc, "multi-user.target.wants"), { recursive: true });
symlinkSync(join(lib, "real.service"), join(etc, "multi-user.target.wants", "real.service"));

const loader = new UnitLoader([etc, lib], TEST_HOST);

describe("unit loading", () => {
  test("drop-ins: sorted by name across directories, earlier directory hides same name, type-level drop-ins apply", () => {
    const u = loader.load("echo.socket");
    expect(u.loadState).toBe("loaded");
    expect(u.socket!.listen.map((p) => p.text)).toEqual(["/run/echo.sock", "7777"]);
    expect(u.socket!.backlog).toBe(5);
    expect(u.socket!.keepAlive).toBe(true);
    expect(u.dropinPaths.map((p) => p.slice(root.length))).toEqual([
      "/lib/socket.d/00-all.conf",
      "/etc/echo.socket.d/10-port.conf",
      "/lib/echo.socket.d/20-backlog.conf",
    ]);
    expect(u.install.wantedBy).toEqual(["sockets.target"]);
  });

  test("instances load their template, with template and instance drop-ins and %i", () => {
    const u = loader.load("echo@one.service");
    expect(u.fragmentPath).toBe(join(lib, "echo@.service"));
    expect(u.unit.description).toBe("Echo for one");
    expect(u.service!.exec.environment).toEqual([
      ["A", "lib"],
      ["B", "template"],
      ["C", "instance"],
    ]);
    expect(loader.load("echo@two.service").service!.exec.environment).toEqual([
      ["A", "lib"],
      ["B", "template"],
    ]);
  });

  test("prefix drop-ins (foo-.service.d) apply to dashed names", () => {
    expect(loader.load("a-b-c.service").service!.exec.environment).toEqual([
      ["P1", "a"],
      ["P2", "ab"],
    ]);
  });

  test("aliases and masks", () => {
    const a = loader.load("alias.service");
    expect(a.name).toBe("real.service");
    expect(a.aliases).toContain("alias.service");
    expect(loader.load("real2.service").loadState).toBe("masked");
    expect(loader.load("nothere.service").loadState).toBe("not-found");
  });

  test(".wants/ directories add dependencies", () => {
    expect(loader.load("multi-user.target").dirWants).toEqual(["real.service"]);
  });

  test("listNames lists unit files", () => {
    expect(loader.listNames()).toContain("echo@.service");
    expect(loader.listNames()).not.toContain("socket.d");
  });
});

describe("what the loader keeps until clear()", () => {
  test("instances resolve against the directories as first read; clear() (daemon-reload) reads them again", () => {
    const l = new UnitLoader([etc, lib], TEST_HOST);
    const env = (n: string) => l.load(n).service!.exec.environment;
    expect(env("echo@c1.service")).toEqual([
      ["A", "lib"],
      ["B", "template"],
    ]);
    l.forget("echo@c1.service");
    put(join(etc, "echo@.service.d", "70-late.conf"), "[Service]\nEnvironment=D=late\n");
    try {
      // Like the template's parsed text, the drop-in listing waits for a reload.
      expect(env("echo@c2.service")).toEqual([
        ["A", "lib"],
        ["B", "template"],
      ]);
      l.clear();
      expect(env("echo@c3.service")).toEqual([
        ["A", "lib"],
        ["B", "template"],
        ["D", "late"],
      ]);
    } finally {
      rmSync(join(etc, "echo@.service.d"), { recursive: true, force: true });
    }
  });

  test("aliases are found from the remembered symlinks, also for a unit loaded after others", () => {
    const l = new UnitLoader([etc, lib], TEST_HOST);
    l.load("a-b-c.service");
    expect(l.load("real.service").aliases).toContain("alias.service");
  });
});
