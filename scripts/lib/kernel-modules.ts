/** The closure of kernel modules a board needs, from depmod's modules.dep. Pure. */

/** modules.dep lines "kernel/a/b.ko: kernel/c.ko kernel/d.ko" -> module path -> dependencies. */
export function parseModulesDep(text: string): Map<string, string[]> {
  const m = new Map<string, string[]>();
  for (const line of text.split("\n")) {
    const colon = line.indexOf(":");
    if (colon < 0) continue;
    m.set(
      line.slice(0, colon).trim(),
      line
        .slice(colon + 1)
        .trim()
        .split(/\s+/)
        .filter(Boolean),
    );
  }
  return m;
}

/** "usb_f_fs" and "usb-f-fs" name the same module; the file name is usb_f_fs.ko[.xz|.zst]. */
export function moduleName(path: string): string {
  return path
    .slice(path.lastIndexOf("/") + 1)
    .replace(/\.ko(\.\w+)?$/, "")
    .replace(/-/g, "_");
}

/** Every module file needed to load the named modules (them and their dependencies). */
export function moduleClosure(dep: Map<string, string[]>, names: readonly string[]): { files: string[]; missing: string[] } {
  const byName = new Map<string, string>();
  for (const p of dep.keys()) byName.set(moduleName(p), p);
  const files = new Set<string>();
  const missing: string[] = [];
  const add = (p: string) => {
    if (files.has(p)) return;
    files.add(p);
    for (const d of dep.get(p) ?? []) add(d);
  };
  for (const n of names) {
    const p = byName.get(n.replace(/-/g, "_"));
    if (p) add(p);
    else missing.push(n);
  }
  return { files: [...files].sort(), missing };
}
