import { describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { defaultUnitPath, findExecutableIn, ImageRoot, normalizeImagePath, type PathProbe, readRootMap } from "./unit-path.ts";

type Node = { file: true; exec?: boolean } | { dir: true } | { link: string };

/** A file system as a table of host paths (parents of listed paths are directories). */
function fakeFs(entries: Record<string, Node>): PathProbe {
  const all = new Map<string, Node>(Object.entries(entries));
  for (const p of Object.keys(entries)) {
    for (let d = p.slice(0, p.lastIndexOf("/")); d; d = d.slice(0, d.lastIndexOf("/"))) if (!all.has(d)) all.set(d, { dir: true });
  }
  const stat = (n: Node) => ({ isFile: () => "file" in n, isDirectory: () => "dir" in n, isSymbolicLink: () => "link" in n });
  return {
    lstat: (p) => (all.has(p) ? stat(all.get(p)!) : null),
    readlink: (p) => {
      const n = all.get(p);
      if (!n || !("link" in n)) throw new Error(`EINVAL ${p}`);
      return n.link;
    },
    executable: (p) => {
      const n = all.get(p);
      return !!n && "file" in n && n.exec === true;
    },
  };
}

describe("ImageRoot: paths resolved inside an image, as systemd's chase() with a root", () => {
  const fs = fakeFs({
    "/img/usr/bin/tool": { file: true, exec: true },
    "/img/usr/bin/data": { file: true },
    "/img/bin": { link: "usr/bin" },
    "/img/usr/bin/abs": { link: "/usr/bin/tool" },
    "/img/usr/bin/escape": { link: "../../../../../etc/passwd" },
    "/img/usr/bin/hostabs": { link: "/etc/passwd" },
    "/img/loop": { link: "/loop" },
    "/etc/passwd": { file: true },
  });
  const root = ImageRoot.dir("/img", fs);

  test("absolute and relative symlinks stay in the root", () => {
    expect(root.resolve("/bin/tool")).toEqual({ host: "/img/usr/bin/tool", image: "/usr/bin/tool" });
    expect(root.resolve("/usr/bin/abs")).toEqual({ host: "/img/usr/bin/tool", image: "/usr/bin/tool" });
    expect(root.resolve("/usr/bin/../bin/./tool")).toEqual({ host: "/img/usr/bin/tool", image: "/usr/bin/tool" });
  });

  test("a link leading out of the root, by '..' or by an absolute host path, does not reach the host's file", () => {
    expect(root.resolve("/usr/bin/escape")).toEqual({ error: "No such file or directory" });
    expect(root.resolve("/usr/bin/hostabs")).toEqual({ error: "No such file or directory" });
    expect(root.resolve("/../../etc/passwd")).toEqual({ error: "No such file or directory" });
    expect(root.resolve("/loop")).toEqual({ error: "Too many levels of symbolic links" });
  });

  test("executables and files, with systemd-analyze's reasons", () => {
    expect(root.executableProblem("/usr/bin/tool")).toBeNull();
    expect(root.executableProblem("/usr/bin/data")).toBe("Permission denied");
    expect(root.executableProblem("/usr/bin")).toBe("Is a directory");
    expect(root.executableProblem("/usr/bin/tool/x")).toBe("Not a directory");
    expect(root.fileProblem("/usr/bin/data")).toBeNull();
    expect(root.fileProblem("/usr/bin", "directory")).toBeNull();
    expect(root.fileProblem("/usr/bin/data", "directory")).toBe("Not a directory");
    expect(findExecutableIn(root, "tool", "/usr/local/bin:/bin")).toBeNull();
    expect(findExecutableIn(root, "data", "/usr/bin")).toBe("Permission denied");
    expect(findExecutableIn(root, "none", "/usr/bin:/bin")).toBe("No such file or directory");
  });

  test("mounts: a repository's folders stand in for image paths, several merged, directories above them exist", () => {
    const repo = fakeFs({
      "/repo/units/a/x.service": { file: true },
      "/repo/units/a/shared.toml": { file: true },
      "/repo/units/b/y.socket": { file: true },
      "/repo/units/b/shared.toml": { file: true },
      "/repo/units/b/link.toml": { link: "/usr/lib/bunit/firmware/f.toml" },
      "/repo/units/b/out.toml": { link: "../../secret" },
      "/repo/secret": { file: true },
      "/repo/firmware/f.toml": { file: true },
      "/npm/bun.exe": { file: true, exec: true },
    });
    const r = new ImageRoot(
      [
        { at: "/etc/bunit/units", sources: ["/repo/units/a", "/repo/units/b"] },
        { at: "/usr/lib/bunit/firmware/", sources: ["/repo/firmware"] },
        { at: "/usr/bin/bun", sources: ["/npm/bun.exe"] },
      ],
      repo,
    );
    expect(r.hostPath("/etc/bunit/units/shared.toml")).toBe("/repo/units/a/shared.toml");
    expect(r.hostPath("/etc/bunit/units/y.socket")).toBe("/repo/units/b/y.socket");
    expect(r.hostPath("/etc/bunit/units/link.toml")).toBe("/repo/firmware/f.toml");
    expect(r.resolve("/etc/bunit/units/out.toml")).toEqual({ error: "No such file or directory" });
    expect(r.executableProblem("/usr/bin/bun")).toBeNull();
    expect(r.executableProblem("/usr/bin/cat")).toBe("No such file or directory");
    expect(r.directories("/etc/bunit/units")).toEqual(["/repo/units/a", "/repo/units/b"]);
    expect(r.directories("/run/bunit/units")).toEqual([]);
    expect(r.resolve("/etc/bunit")).toEqual({ error: "Is a directory of mount points only" });
  });

  test("the host's own root: host paths are the image paths", () => {
    const host = ImageRoot.dir("/", fakeFs({ "/usr/bin/tool": { file: true, exec: true }, "/bin": { link: "usr/bin" } }));
    expect(host.resolve("/bin/tool")).toEqual({ host: "/usr/bin/tool", image: "/usr/bin/tool" });
    expect(host.directories("/usr/bin")).toEqual(["/usr/bin"]);
  });

  test("normalizeImagePath", () => {
    expect(normalizeImagePath("/a//b/./c/")).toBe("/a/b/c");
    expect(normalizeImagePath("/../x")).toBe("/x");
    expect(normalizeImagePath("/")).toBe("/");
  });
});

describe("readRootMap", () => {
  test("host paths relative to the map, one or several per image path; a missing one names the map and the key", () => {
    const dir = mkdtempSync(join(tmpdir(), "bunit-rootmap-"));
    mkdirSync(join(dir, "units"));
    writeFileSync(join(dir, "bun"), "");
    symlinkSync("units", join(dir, "units-link"));
    writeFileSync(join(dir, "map.toml"), '[paths]\n"/etc/bunit/units" = ["units", "units-link"]\n"/usr/bin/bun" = "bun"\n');
    expect(readRootMap(join(dir, "map.toml"))).toEqual([
      { at: "/etc/bunit/units", sources: [join(dir, "units"), join(dir, "units")] },
      { at: "/usr/bin/bun", sources: [join(dir, "bun")] },
    ]);
    writeFileSync(join(dir, "bad.toml"), '[paths]\n"/usr/bin/x" = "missing"\n');
    expect(() => readRootMap(join(dir, "bad.toml"))).toThrow(`${join(dir, "bad.toml")}: paths."/usr/bin/x": ${join(dir, "missing")} does not exist`);
    writeFileSync(join(dir, "rel.toml"), '[paths]\n"usr" = "bun"\n');
    expect(() => readRootMap(join(dir, "rel.toml"))).toThrow("an absolute image path");
    writeFileSync(join(dir, "none.toml"), "x = 1\n");
    expect(() => readRootMap(join(dir, "none.toml"))).toThrow("needs a [paths] table");
  });
});

describe("defaultUnitPath", () => {
  test("$BUNIT_UNIT_PATH replaces the defaults; a trailing ':' appends them", () => {
    expect(defaultUnitPath({})).toEqual(["/etc/bunit/units", "/run/bunit/units", "/usr/lib/bunit/units"]);
    expect(defaultUnitPath({ BUNIT_UNIT_PATH: "/a:/b" })).toEqual(["/a", "/b"]);
    expect(defaultUnitPath({ BUNIT_UNIT_PATH: "/a:" })).toEqual(["/a", "/etc/bunit/units", "/run/bunit/units", "/usr/lib/bunit/units"]);
  });
});
