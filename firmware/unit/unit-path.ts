import { accessSync, constants, lstatSync, readFileSync, readlinkSync, realpathSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { errorText } from "../core/errors.ts";

/**
 * The unit search path: $BUNIT_UNIT_PATH (colon-separated; a trailing ":" appends the
 * defaults, as $SYSTEMD_UNIT_PATH does), otherwise /etc/bunit/units, /run/bunit/units,
 * /usr/lib/bunit/units. The first directory is also the unit configuration directory, where
 * `bunit enable` writes its symlinks (as /etc/systemd/system for systemd; firmware/install/).
 */
export const DEFAULT_UNIT_PATH = ["/etc/bunit/units", "/run/bunit/units", "/usr/lib/bunit/units"];

export function defaultUnitPath(env: Record<string, string | undefined> = process.env): string[] {
  const v = env.BUNIT_UNIT_PATH;
  if (!v) return [...DEFAULT_UNIT_PATH];
  const parts = v.split(":");
  const appendDefaults = v.endsWith(":");
  const dirs = parts.filter(Boolean);
  return appendDefaults ? [...dirs, ...DEFAULT_UNIT_PATH.filter((d) => !dirs.includes(d))] : dirs;
}

/**
 * What resolution needs from the file system: lstat (null when absent), readlink and whether
 * a file may be executed. Injected so that the resolution itself is testable without files.
 */
export interface PathProbe {
  lstat(p: string): { isFile(): boolean; isDirectory(): boolean; isSymbolicLink(): boolean } | null;
  readlink(p: string): string;
  executable(p: string): boolean;
}

export const hostProbe: PathProbe = {
  lstat: (p) => {
    try {
      return lstatSync(p);
    } catch {
      return null;
    }
  },
  readlink: (p) => readlinkSync(p),
  executable: (p) => {
    try {
      accessSync(p, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  },
};

/** A path of the image and the host paths that stand in for it (several: merged, the first holding a name wins). */
export interface RootMount {
  at: string;
  sources: string[];
}

/** A path resolved inside an ImageRoot: where it is on this host, or why it is not there (errno text). */
export type Resolved = { host: string; image: string } | { error: string };

const MAX_SYMLINKS = 40;
const ENOENT = "No such file or directory";

/**
 * An image's file system as seen from this host (systemd-analyze --root=DIR, or a mapping of a
 * repository's folders onto the image's paths): absolute paths of units (ExecStart=,
 * USBFunctionDescriptors=, the unit search path) are resolved in it as chase() does with a root:
 * component by component, an absolute symlink target starts again at the image's "/", ".." stops
 * at "/", so nothing resolves to a host file outside the mounts. Directories above a mount point
 * exist (as the mount points of a real tree do).
 */
export class ImageRoot {
  private readonly mounts: RootMount[];

  constructor(
    mounts: readonly RootMount[],
    private readonly probe: PathProbe = hostProbe,
  ) {
    this.mounts = mounts.map((m) => ({ at: normalizeImagePath(m.at), sources: [...m.sources] })).sort((a, b) => b.at.length - a.at.length);
  }

  /** systemd's --root=DIR: the whole image is one directory. */
  static dir(root: string, probe?: PathProbe): ImageRoot {
    return new ImageRoot([{ at: "/", sources: [root] }], probe);
  }

  /** The host candidates of one image path (no symlink followed in it): the mount's sources that hold it. */
  private places(image: string): string[] {
    for (const m of this.mounts) {
      if (!(m.at === "/" || image === m.at || image.startsWith(`${m.at}/`))) continue;
      const rest = m.at === "/" ? image : image.slice(m.at.length);
      return m.sources.map((s) => (rest === "/" ? s : s === "/" ? rest : s + rest)).filter((p) => this.probe.lstat(p) !== null);
    }
    return [];
  }

  /** Whether a mount point lies below this image path (it then exists as a directory). */
  private aboveMount(image: string): boolean {
    const prefix = image === "/" ? "/" : `${image}/`;
    return this.mounts.some((m) => m.at !== image && m.at.startsWith(prefix));
  }

  /** Resolves an absolute image path, following symlinks inside the image. */
  resolve(path: string): Resolved {
    if (!path.startsWith("/")) return { error: "Not an absolute path" };
    let todo = path.split("/");
    let done = "/";
    let hops = 0;
    for (;;) {
      const c = todo.shift();
      if (c === undefined) break;
      if (c === "" || c === ".") continue;
      if (c === "..") {
        done = done === "/" ? "/" : done.slice(0, done.lastIndexOf("/")) || "/";
        continue;
      }
      const next = done === "/" ? `/${c}` : `${done}/${c}`;
      const host = this.places(next)[0];
      if (host === undefined) {
        if (this.aboveMount(next)) {
          done = next;
          continue;
        }
        return { error: ENOENT };
      }
      const st = this.probe.lstat(host)!;
      if (st.isSymbolicLink()) {
        if (++hops > MAX_SYMLINKS) return { error: "Too many levels of symbolic links" };
        const target = this.probe.readlink(host);
        todo = [...target.split("/"), ...todo];
        if (target.startsWith("/")) done = "/";
        continue;
      }
      if (todo.some((t) => t !== "") && !st.isDirectory()) return { error: "Not a directory" };
      done = next;
    }
    const host = this.places(done)[0];
    if (host === undefined) return this.aboveMount(done) || done === "/" ? { error: "Is a directory of mount points only" } : { error: ENOENT };
    return { host, image: done };
  }

  /** The host directories that make up an image directory (all sources of a merged mount), for unit search paths. */
  directories(path: string): string[] {
    const r = this.resolve(path);
    const image = "error" in r ? (this.aboveMount(normalizeImagePath(path)) ? normalizeImagePath(path) : null) : r.image;
    if (image === null) return [];
    return this.places(image).filter((p) => this.probe.lstat(p)!.isDirectory());
  }

  /** null when path is an executable regular file in the image, otherwise why not (as systemd-analyze says it). */
  executableProblem(path: string): string | null {
    const r = this.resolve(path);
    if ("error" in r) return r.error;
    const st = this.probe.lstat(r.host)!;
    if (st.isDirectory()) return "Is a directory";
    if (!st.isFile()) return "Permission denied";
    return this.probe.executable(r.host) ? null : "Permission denied";
  }

  /** null when path is a regular file (kind "file") or directory in the image, otherwise why not. */
  fileProblem(path: string, kind: "file" | "directory" = "file"): string | null {
    const r = this.resolve(path);
    if ("error" in r) return r.error;
    const st = this.probe.lstat(r.host)!;
    if (kind === "file") return st.isDirectory() ? "Is a directory" : null;
    return st.isDirectory() ? null : "Not a directory";
  }

  /** The host path of an image file, for reading it (null when it does not resolve). */
  hostPath(path: string): string | null {
    const r = this.resolve(path);
    return "error" in r ? null : r.host;
  }
}

/** "/a//b/./c/" -> "/a/b/c" (no symlinks: a mount point as written). */
export function normalizeImagePath(p: string): string {
  const parts: string[] = [];
  for (const c of p.split("/")) {
    if (c === "" || c === ".") continue;
    if (c === "..") parts.pop();
    else parts.push(c);
  }
  return `/${parts.join("/")}`;
}

/** The first executable named name in the directories of search (a PATH string), or why none is. */
export function findExecutableIn(root: ImageRoot, name: string, search: string): string | null {
  if (name.includes("/")) return root.executableProblem(name);
  let problem: string | null = ENOENT;
  for (const dir of search.split(":").filter((d) => d.startsWith("/"))) {
    const p = root.executableProblem(`${dir}/${name}`);
    if (p === null) return null;
    if (p !== ENOENT) problem = p;
  }
  return problem;
}

/**
 * A root map (`bunit verify --root-map FILE`): which host paths stand in for which paths of an
 * image, as TOML:
 *
 *     [paths]
 *     "/etc/bunit/units" = ["../shipped", "usb-loopback"]   # merged, the first holding a name wins
 *     "/usr/bin/bun" = "../../node_modules/bun/bin/bun.exe"
 *
 * Relative host paths are relative to the map's directory; each must exist (symlinks in the
 * host path itself are resolved here, on the host; inside it they are resolved in the image).
 */
export function readRootMap(file: string): RootMount[] {
  let doc: unknown;
  try {
    doc = Bun.TOML.parse(readFileSync(file, "utf8"));
  } catch (e) {
    throw new Error(`${file}: ${errorText(e)}`);
  }
  const paths = (doc as { paths?: unknown }).paths;
  if (typeof paths !== "object" || paths === null || Array.isArray(paths))
    throw new Error(`${file}: needs a [paths] table ("/image/path" = ["host path", ...])`);
  const out: RootMount[] = [];
  for (const [at, v] of Object.entries(paths)) {
    const list = typeof v === "string" ? [v] : v;
    if (!at.startsWith("/") || !Array.isArray(list) || list.length === 0 || list.some((s) => typeof s !== "string" || s === ""))
      throw new Error(`${file}: paths."${at}": an absolute image path and a host path or a list of them`);
    const sources = (list as string[]).map((s) => {
      const p = resolve(dirname(file), s);
      try {
        return realpathSync(p);
      } catch {
        throw new Error(`${file}: paths."${at}": ${p} does not exist`);
      }
    });
    out.push({ at, sources });
  }
  return out;
}
