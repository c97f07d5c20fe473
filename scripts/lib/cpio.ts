/**
 * Writes an initramfs: the "newc" cpio format the kernel unpacks, from layered directories
 * (a later layer replaces a path of an earlier one) plus synthetic nodes such as /dev/console,
 * which need no mknod on the build machine. Entries are sorted and timestamps fixed, so the
 * same inputs give the same bytes.
 */
import { closeSync, lstatSync, openSync, readdirSync, readlinkSync, readSync, writeSync } from "node:fs";
import { join } from "node:path";

export type CpioEntry =
  | { kind: "dir"; mode: number }
  | { kind: "file"; mode: number; source: string; size: number }
  | { kind: "data"; mode: number; data: Uint8Array }
  | { kind: "symlink"; target: string }
  | { kind: "char"; mode: number; major: number; minor: number };

/** Collects the entries of layered directory trees, keyed by path without a leading "/". */
export function collectLayers(layers: readonly string[]): Map<string, CpioEntry> {
  const entries = new Map<string, CpioEntry>();
  const walk = (root: string, rel: string) => {
    for (const name of readdirSync(join(root, rel)).sort()) {
      const r = rel ? `${rel}/${name}` : name;
      const p = join(root, r);
      const st = lstatSync(p);
      if (st.isSymbolicLink()) entries.set(r, { kind: "symlink", target: readlinkSync(p) });
      else if (st.isDirectory()) {
        if (entries.get(r)?.kind !== "dir") entries.set(r, { kind: "dir", mode: st.mode & 0o7777 });
        walk(root, r);
      } else if (st.isFile()) entries.set(r, { kind: "file", mode: st.mode & 0o7777, source: p, size: st.size });
    }
  };
  for (const l of layers) walk(l, "");
  return entries;
}

/** Adds the parent directories every entry needs. */
function withParents(entries: Map<string, CpioEntry>): [string, CpioEntry][] {
  const all = new Map(entries);
  for (const path of entries.keys()) {
    const parts = path.split("/");
    for (let i = 1; i < parts.length; i++) {
      const d = parts.slice(0, i).join("/");
      if (!all.has(d)) all.set(d, { kind: "dir", mode: 0o755 });
    }
  }
  return [...all.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

const S_IFDIR = 0o040000,
  S_IFREG = 0o100000,
  S_IFLNK = 0o120000,
  S_IFCHR = 0o020000;

function header(ino: number, mode: number, size: number, name: string, rdev: [number, number], mtime: number): Uint8Array {
  const nameBytes = new TextEncoder().encode(name + "\0");
  const hex = (n: number) => (n >>> 0).toString(16).padStart(8, "0");
  const fields = [ino, mode, 0, 0, 1, mtime, size, 0, 0, rdev[0], rdev[1], nameBytes.length, 0];
  const head = new TextEncoder().encode("070701" + fields.map(hex).join(""));
  const pad = (4 - ((head.length + nameBytes.length) % 4)) % 4;
  const out = new Uint8Array(head.length + nameBytes.length + pad);
  out.set(head);
  out.set(nameBytes, head.length);
  return out;
}

/** Writes the archive to a file; returns the number of entries. */
export function writeCpio(entries: Map<string, CpioEntry>, outFile: string, mtime = 0): number {
  const fd = openSync(outFile, "w");
  let ino = 1;
  let offset = 0;
  const put = (b: Uint8Array) => {
    writeSync(fd, b);
    offset += b.length;
  };
  const padTo4 = () => {
    const pad = (4 - (offset % 4)) % 4;
    if (pad) put(new Uint8Array(pad));
  };
  const list = withParents(entries);
  const buf = new Uint8Array(1 << 20);
  try {
    for (const [path, e] of list) {
      switch (e.kind) {
        case "dir":
          put(header(ino++, S_IFDIR | e.mode, 0, path, [0, 0], mtime));
          break;
        case "symlink": {
          const t = new TextEncoder().encode(e.target);
          put(header(ino++, S_IFLNK | 0o777, t.length, path, [0, 0], mtime));
          put(t);
          padTo4();
          break;
        }
        case "char":
          put(header(ino++, S_IFCHR | e.mode, 0, path, [e.major, e.minor], mtime));
          break;
        case "data":
          put(header(ino++, S_IFREG | e.mode, e.data.length, path, [0, 0], mtime));
          put(e.data);
          padTo4();
          break;
        case "file": {
          put(header(ino++, S_IFREG | e.mode, e.size, path, [0, 0], mtime));
          const src = openSync(e.source, "r");
          try {
            let left = e.size;
            while (left > 0) {
              const n = readSync(src, buf, 0, Math.min(buf.length, left), null);
              if (n <= 0) throw new Error(`${e.source} shrank while archiving`);
              put(n === buf.length ? buf : buf.subarray(0, n));
              left -= n;
            }
          } finally {
            closeSync(src);
          }
          padTo4();
          break;
        }
      }
    }
    put(header(0, 0, 0, "TRAILER!!!", [0, 0], 0));
    padTo4();
  } finally {
    closeSync(fd);
  }
  return list.length;
}
