/**
 * Enablement symlinks as data: a set of links (path -> what it resolves to) that plans change in
 * memory, recording each change for the disk layer to carry out in order. Pure.
 */
import { basename, dirname } from "node:path";

/** A symlink: its absolute path and the absolute path it resolves to ("/dev/null": a mask). */
export interface Link {
  path: string;
  target: string;
}

export type Change = { kind: "link"; path: string; target: string; replaces?: string } | { kind: "unlink"; path: string; target: string };

/** The dependency directories enablement writes ("T.wants/" etc.) and what the loader makes of them. */
export const DEP_SUFFIXES = { wants: "wants", requires: "requires", upholds: "upholds" } as const;
export type DepSuffix = keyof typeof DEP_SUFFIXES;

/** Where a link sits: at the top of a unit directory (an alias, a mask, a linked file) or in T.wants/ etc. */
export function linkPlace(link: Link, unitDirs: readonly string[]): { dir: string; owner: string | null; suffix: DepSuffix | null } | null {
  const parent = dirname(link.path);
  if (unitDirs.includes(parent)) return { dir: parent, owner: null, suffix: null };
  const top = dirname(parent);
  if (!unitDirs.includes(top)) return null;
  const m = /^(.+)\.(wants|requires|upholds)$/.exec(basename(parent));
  return m ? { dir: top, owner: m[1]!, suffix: m[2] as DepSuffix } : null;
}

export class LinkSet {
  private readonly byPath = new Map<string, string>();
  readonly changes: Change[] = [];

  constructor(links: readonly Link[] = []) {
    for (const l of links) this.byPath.set(l.path, l.target);
  }

  get(path: string): string | undefined {
    return this.byPath.get(path);
  }

  all(): Link[] {
    return [...this.byPath.entries()].map(([path, target]) => ({ path, target }));
  }

  /** Adds a link; an existing one to the same target is left as it is. Returns false for a conflict (not forced). */
  link(path: string, target: string, force: boolean): boolean {
    const old = this.byPath.get(path);
    if (old === target) return true;
    if (old !== undefined && !force) return false;
    this.byPath.set(path, target);
    this.changes.push(old === undefined ? { kind: "link", path, target } : { kind: "link", path, target, replaces: old });
    return true;
  }

  unlink(path: string): void {
    const old = this.byPath.get(path);
    if (old === undefined) return;
    this.byPath.delete(path);
    this.changes.push({ kind: "unlink", path, target: old });
  }
}
