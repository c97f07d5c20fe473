/**
 * File-system nodes of socket units against a local user who controls a directory on the way:
 *   - ListenFIFO= refuses an existing FIFO with another owner or mode (systemd: EEXIST), which
 *     would let that user feed the service;
 *   - RemoveOnStop= removes only the inode it created, in the directory it created it in: a
 *     directory swapped for a symlink before stop makes root delete nothing elsewhere;
 *   - a "stale" node in the way of bind() is removed only when it is a socket, never a file;
 *   - Symlinks= replaces and removes only symlinks;
 *   - SocketUser= chowns the socket bind() made, not what a swapped directory leads to.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chownSync, existsSync, lstatSync, mkdirSync, readFileSync, renameSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { $ } from "zx";
import * as n from "../../firmware/native.ts";
import { chownPorts, closePort, openPort } from "../../firmware/socket/socket-open.ts";
import { socketFromText } from "../support/units.ts";
import { TestDaemon } from "../support/harness.ts";

const NOBODY = 65534;
let d: TestDaemon;

beforeAll(async () => {
  d = await TestDaemon.start(
    {
      "fifo.socket": "[Socket]\nListenFIFO=@DIR@/fifo/in\n",
      "fifo.service": "[Service]\nExecStart=/bin/sleep 30\n",
      "own.socket": "[Socket]\nListenFIFO=@DIR@/own/in\nSocketMode=0600\n",
      "own.service": "[Service]\nExecStart=/bin/sleep 30\n",
      "rm.socket": "[Socket]\nListenStream=@DIR@/rm/sub/s.sock\nRemoveOnStop=yes\nSymlinks=@DIR@/rm/links/l.sock\n",
      "rm.service": "[Service]\nExecStart=/bin/sleep 30\n",
      "rmf.socket": "[Socket]\nListenFIFO=@DIR@/rm/sub/f.fifo\nRemoveOnStop=yes\n",
      "rmf.service": "[Service]\nExecStart=/bin/sleep 30\n",
      "stale.socket": "[Socket]\nListenStream=@DIR@/stale/x.sock\n",
      "stale.service": "[Service]\nExecStart=/bin/sleep 30\n",
      "oldlink.socket": "[Socket]\nListenStream=@DIR@/ol/s.sock\nRemoveOnStop=yes\nSymlinks=@DIR@/ol/file.sock\n",
      "oldlink.service": "[Service]\nExecStart=/bin/sleep 30\n",
    },
    { boot: false },
  );
});
afterAll(() => d?.stop());

describe("ListenFIFO= and an existing FIFO", () => {
  test("another user's FIFO with mode 0666 is refused (EEXIST), left as it was", async () => {
    mkdirSync(d.path("fifo"));
    n.mkfifo(d.path("fifo/in"), 0o666);
    $.sync`chmod 0666 ${d.path("fifo/in")}`;
    chownSync(d.path("fifo/in"), NOBODY, NOBODY);
    expect(await d.manager.start("fifo.socket")).not.toBe("done");
    expect(d.sub("fifo.socket")).toBe("failed");
    expect(d.messages("fifo.socket").join("\n")).toMatch(
      /ListenFIFO=.*fifo\/in.*exists with mode 0666, owner 65534:65534.*EEXIST|EEXIST.*exists with mode 0666/,
    );
    expect(statSync(d.path("fifo/in")).uid).toBe(NOBODY);
  });

  test("a FIFO this socket made (its mode, the daemon's owner) is used again", async () => {
    expect(await d.manager.start("own.socket")).toBe("done");
    expect(await d.manager.stop("own.socket")).toBe("done");
    expect(statSync(d.path("own/in")).mode & 0o7777).toBe(0o600);
    expect(await d.manager.start("own.socket")).toBe("done");
    expect(d.sub("own.socket")).toBe("listening");
  });

  test("the right owner with another mode is refused too", async () => {
    await d.manager.stop("own.socket");
    $.sync`chmod 0666 ${d.path("own/in")}`;
    expect(await d.manager.start("own.socket")).not.toBe("done");
    expect(d.messages("own.socket").join("\n")).toContain("exists with mode 0666");
  });
});

describe("RemoveOnStop= with the directory swapped before stop", () => {
  test("the socket, the FIFO and the symlink elsewhere survive; nothing is removed through the link", async () => {
    expect(await d.manager.start("rm.socket")).toBe("done");
    expect(await d.manager.start("rmf.socket")).toBe("done");
    expect(lstatSync(d.path("rm/links/l.sock")).isSymbolicLink()).toBe(true);
    // The attacker's move: the directory becomes a link to one holding files of the same names.
    mkdirSync(d.path("victim"));
    mkdirSync(d.path("victim-links"));
    for (const f of ["s.sock", "f.fifo"]) writeFileSync(d.path("victim", f), "precious");
    symlinkSync("/etc/hostname", d.path("victim-links/l.sock"));
    renameSync(d.path("rm/sub"), d.path("rm/sub.old"));
    symlinkSync(d.path("victim"), d.path("rm/sub"));
    renameSync(d.path("rm/links"), d.path("rm/links.old"));
    symlinkSync(d.path("victim-links"), d.path("rm/links"));
    expect(await d.manager.stop("rm.socket")).toBe("done");
    expect(await d.manager.stop("rmf.socket")).toBe("done");
    expect(readFileSync(d.path("victim/s.sock"), "utf8")).toBe("precious");
    expect(readFileSync(d.path("victim/f.fifo"), "utf8")).toBe("precious");
    expect(lstatSync(d.path("victim-links/l.sock")).isSymbolicLink()).toBe(true);
  });

  test("without the swap, RemoveOnStop= removes what it created", async () => {
    for (const p of ["rm/sub", "rm/links"]) $.sync`rm ${d.path(p)}`;
    renameSync(d.path("rm/sub.old"), d.path("rm/sub"));
    renameSync(d.path("rm/links.old"), d.path("rm/links"));
    $.sync`rm -f ${d.path("rm/sub/s.sock")} ${d.path("rm/sub/f.fifo")} ${d.path("rm/links/l.sock")}`;
    for (const u of ["rm.socket", "rmf.socket"]) expect(await d.manager.start(u)).toBe("done");
    for (const u of ["rm.socket", "rmf.socket"]) expect(await d.manager.stop(u)).toBe("done");
    expect(existsSync(d.path("rm/sub/s.sock"))).toBe(false);
    expect(existsSync(d.path("rm/sub/f.fifo"))).toBe(false);
    expect(existsSync(d.path("rm/links/l.sock"))).toBe(false);
  });
});

describe("nodes in the way", () => {
  test("a regular file where the socket goes is not taken for a stale socket and deleted", async () => {
    mkdirSync(d.path("stale"));
    writeFileSync(d.path("stale/x.sock"), "precious");
    expect(await d.manager.start("stale.socket")).not.toBe("done");
    expect(readFileSync(d.path("stale/x.sock"), "utf8")).toBe("precious");
    expect(d.messages("stale.socket").join("\n")).toContain("is not a stale socket");
  });

  test("a stale socket node is replaced", async () => {
    $.sync`rm ${d.path("stale/x.sock")}`;
    const py = Bun.spawnSync(["python3", "-c", `import socket; s=socket.socket(socket.AF_UNIX); s.bind(${JSON.stringify(d.path("stale/x.sock"))})`]);
    expect(py.exitCode).toBe(0);
    expect(lstatSync(d.path("stale/x.sock")).isSocket()).toBe(true);
    expect(await d.manager.start("stale.socket")).toBe("done");
    expect(d.sub("stale.socket")).toBe("listening");
  });

  test("Symlinks= with RemoveOnStop= does not replace (or later remove) a regular file of that name", async () => {
    mkdirSync(d.path("ol"));
    writeFileSync(d.path("ol/file.sock"), "precious");
    expect(await d.manager.start("oldlink.socket")).toBe("done");
    expect(await d.manager.stop("oldlink.socket")).toBe("done");
    expect(readFileSync(d.path("ol/file.sock"), "utf8")).toBe("precious");
  });
});

describe("SocketUser= and a directory swapped between bind() and chown", () => {
  test("the chown is refused; the file the link leads to keeps its owner", () => {
    const cfg = socketFromText(`ListenStream=${d.path("ch/sub/s.sock")}`).socket;
    const log = { debug() {}, info() {}, notice() {}, warning() {}, error() {} } as never;
    const opened = openPort(cfg, cfg.listen[0]!, log);
    try {
      mkdirSync(d.path("ch-victim"));
      writeFileSync(d.path("ch-victim/s.sock"), "root's");
      renameSync(d.path("ch/sub"), d.path("ch/sub.old"));
      symlinkSync(d.path("ch-victim"), d.path("ch/sub"));
      expect(() => chownPorts([opened], NOBODY, NOBODY)).toThrow(/not the one it was created in/);
      expect(statSync(d.path("ch-victim/s.sock")).uid).toBe(0);
    } finally {
      closePort(opened, false);
    }
  });
});
