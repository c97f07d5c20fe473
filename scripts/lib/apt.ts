/**
 * Debian packages for images, through a private apt state under .cache/apt: its own sources
 * (main and non-free-firmware, with updates and security), lists and download cache, several
 * architectures. Nothing on the host's apt configuration changes and nothing is installed.
 */
import { existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { $ } from "zx";

$.verbose = false;

/** Binary packages (deb), or with `source` their source packages (deb-src). */
const sources = (type: "deb" | "deb-src") =>
  [
    `${type} http://deb.debian.org/debian bookworm main non-free-firmware`,
    `${type} http://deb.debian.org/debian bookworm-updates main non-free-firmware`,
    `${type} http://deb.debian.org/debian-security bookworm-security main non-free-firmware`,
  ].join("\n");

export class PrivateApt {
  private readonly opts: string[];

  constructor(
    readonly root: string,
    private readonly arches: readonly string[],
    private readonly kind: { source?: boolean } = {},
  ) {
    for (const d of ["lists/partial", "cache/archives/partial", "debs"]) mkdirSync(join(root, d), { recursive: true });
    writeFileSync(join(root, "sources.list"), sources(kind.source ? "deb-src" : "deb") + "\n");
    writeFileSync(join(root, "status"), "");
    this.opts = [
      `-o=Dir::Etc::sourcelist=${join(root, "sources.list")}`,
      "-o=Dir::Etc::sourceparts=-",
      `-o=Dir::State::Lists=${join(root, "lists")}`,
      `-o=Dir::State::status=${join(root, "status")}`,
      `-o=Dir::Cache=${join(root, "cache")}`,
      "-o=APT::Sandbox::User=root",
      "-o=Debug::NoLocking=1",
      ...arches.map((a) => `-o=APT::Architectures::=${a}`),
      `-o=APT::Architecture=${arches[0]}`,
    ];
  }

  /** Age of the package lists in hours (Infinity when never fetched, or lacking an architecture). */
  listsAgeHours(): number {
    const lists = readdirSync(join(this.root, "lists")).filter((f) => (this.kind.source ? /_Sources(\.\w+)?$/ : /_Packages(\.\w+)?$/).test(f));
    if (lists.length === 0) return Infinity;
    if (!this.kind.source) for (const a of this.arches) if (!lists.some((f) => f.includes(`binary-${a}_`))) return Infinity;
    const newest = Math.max(...lists.map((f) => statSync(join(this.root, "lists", f)).mtimeMs));
    return (Date.now() - newest) / 3.6e6;
  }

  async update(): Promise<void> {
    await $`apt-get ${this.opts} update -qq`;
  }

  /** The fields of a package's newest version. */
  async show(pkg: string): Promise<Record<string, string>> {
    const r = await $`apt-cache ${this.opts} show --no-all-versions ${pkg}`.nothrow();
    if (r.exitCode !== 0 || !r.stdout.trim()) throw new Error(`Debian package ${pkg} not found (apt lists in ${this.root})`);
    const out: Record<string, string> = {};
    let key = "";
    for (const line of r.stdout.split("\n")) {
      if (line === "") break;
      const m = /^([\w-]+):\s?(.*)$/.exec(line);
      if (m) {
        key = m[1]!;
        out[key] = m[2]!;
      } else if (key) out[key] += "\n" + line.trim();
    }
    return out;
  }

  /**
   * A metapackage such as linux-image-amd64 resolved to the package that holds the files
   * (linux-image-6.1.0-NN-amd64); other packages are returned as they are.
   */
  async resolveKernel(pkg: string, arch: string): Promise<string> {
    const f = await this.show(`${pkg}:${arch}`);
    const dep = (f.Depends ?? "")
      .split(",")
      .map((d) => d.trim().split(" ")[0]!)
      .find((d) => /^linux-image-\d/.test(d));
    return dep ?? pkg;
  }

  /** Where the .deb of a package (NAME or NAME:ARCH) is, or will be once downloaded. */
  async debPath(pkg: string): Promise<string> {
    const [name, arch] = pkg.split(":");
    const f = await this.show(pkg);
    // apt-get download keeps an epoch in the file name, URL-encoded ("1%3a1.35.0").
    return join(this.root, "debs", `${name}_${f.Version!.replace(":", "%3a")}_${f.Architecture ?? arch}.deb`);
  }

  /** Downloads packages (NAME:ARCH) into the cache; returns the .deb paths. */
  async download(pkgs: readonly string[]): Promise<string[]> {
    const dir = join(this.root, "debs");
    const out: string[] = [];
    const need: string[] = [];
    for (const p of pkgs) {
      const file = await this.debPath(p);
      out.push(file);
      if (!existsSync(file)) need.push(p);
    }
    if (need.length) await $({ cwd: dir })`apt-get ${this.opts} download -qq ${need}`;
    for (const f of out) if (!existsSync(f)) throw new Error(`apt-get download did not produce ${f}`);
    return out;
  }

  /** Downloads a source package (with `source`) into dir; returns the path of its .dsc. */
  async source(pkg: string, dir: string): Promise<string> {
    mkdirSync(dir, { recursive: true });
    await $({ cwd: dir })`apt-get ${this.opts} source --download-only -qq ${pkg}`;
    const dsc = readdirSync(dir).find((f) => f.startsWith(`${pkg}_`) && f.endsWith(".dsc"));
    if (!dsc) throw new Error(`apt-get source ${pkg} left no .dsc in ${dir}`);
    return join(dir, dsc);
  }
}
