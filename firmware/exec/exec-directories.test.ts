import { describe, expect, test } from "bun:test";
import { unitFromText } from "../testing/fake-host.ts";
import { createDirectories, type DirectoryOps } from "./exec-directories.ts";

/** An in-memory tree: path -> owner and kind; mkdir makes parents owned by root. */
class FakeDirs implements DirectoryOps {
  readonly nodes = new Map<string, { uid: number; gid: number; dir: boolean; mode?: number }>();
  readonly chowned: string[] = [];
  mkdir(path: string, mode: number): void {
    const parts = path.split("/").filter(Boolean);
    for (let i = 1; i <= parts.length; i++) {
      const p = `/${parts.slice(0, i).join("/")}`;
      if (!this.nodes.has(p)) this.nodes.set(p, { uid: 0, gid: 0, dir: true, mode });
    }
  }
  owner(path: string) {
    const n = this.nodes.get(path);
    if (!n) throw new Error(`ENOENT ${path}`);
    return n;
  }
  list(path: string): string[] {
    return [...this.nodes.keys()].filter((p) => p.startsWith(`${path}/`) && !p.slice(path.length + 1).includes("/")).map((p) => p.slice(path.length + 1));
  }
  chown(path: string, uid: number, gid: number): void {
    const n = this.owner(path);
    n.uid = uid;
    n.gid = gid;
    this.chowned.push(path);
  }
}

const roots = { runtime: "/run", state: "/var/lib", cache: "/var/cache", logs: "/var/log", config: "/etc" };
const exec = (text: string) => unitFromText("a.service", `[Service]\nExecStart=/bin/a\n${text}\n`).service!.exec;
const quiet = {
  warning: (m: string) => {
    throw new Error(m);
  },
};

describe("service directories", () => {
  test("with User=/Group= the runtime, state, cache and logs directories are theirs; parents and ConfigurationDirectory= stay root's", () => {
    const fs = new FakeDirs();
    const e = exec("RuntimeDirectory=a\nStateDirectory=a/b\nCacheDirectory=a\nLogsDirectory=a\nConfigurationDirectory=a");
    createDirectories(e, roots, quiet, { uid: 1000, gid: 1001 }, fs);
    for (const p of ["/run/a", "/var/lib/a/b", "/var/cache/a", "/var/log/a"]) expect([p, fs.owner(p).uid, fs.owner(p).gid]).toEqual([p, 1000, 1001]);
    expect(fs.owner("/var/lib/a").uid).toBe(0);
    expect(fs.owner("/etc/a").uid).toBe(0);
  });

  test("an existing directory of another owner is given to the user with what it holds", () => {
    const fs = new FakeDirs();
    fs.mkdir("/var/lib/a/old", 0o755);
    fs.nodes.set("/var/lib/a/old/file", { uid: 0, gid: 0, dir: false });
    createDirectories(exec("StateDirectory=a"), roots, quiet, { uid: 7, gid: 7 }, fs);
    expect(fs.owner("/var/lib/a/old/file").uid).toBe(7);
    // Already the user's: nothing is touched again.
    fs.chowned.length = 0;
    createDirectories(exec("StateDirectory=a"), roots, quiet, { uid: 7, gid: 7 }, fs);
    expect(fs.chowned).toEqual([]);
  });

  test("without User=/Group= nothing is chowned", () => {
    const fs = new FakeDirs();
    createDirectories(exec("RuntimeDirectory=a"), roots, quiet, null, fs);
    expect(fs.chowned).toEqual([]);
  });
});
