/**
 * `bunit verify` must accept the .socket and .service files Debian's packages ship, without
 * false errors: no error, no unknown key (unsupported systemd features are notices).
 */
import { describe, expect, test } from "bun:test";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { hostFacts } from "../../firmware/unit/host-facts.ts";
import { UnitLoader } from "../../firmware/unit/unit-loader.ts";
import { verifyUnits } from "../../firmware/commands/verify.ts";
import { unpackedPackages } from "../support/debian.ts";

const PACKAGES = [
  "systemd",
  "udev",
  "dbus",
  "dbus-user-session",
  "openssh-server",
  "cups-daemon",
  "libvirt-daemon-system",
  "libvirt-daemon",
  "podman",
  "avahi-daemon",
  "lvm2",
  "docker.io",
  "uuid-runtime",
  "pcscd",
  "rsync",
  "systemd-container",
  "multipath-tools",
  "open-iscsi",
  "cockpit-ws",
  "systemd-timesyncd",
  "systemd-resolved",
  "cloud-init",
  "snapd",
  "pipewire",
  "pulseaudio",
  "gpg-agent",
  "dirmngr",
  "fwupd",
  "qemu-guest-agent",
];

function walk(dir: string, out: string[] = []): string[] {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) walk(p, out);
    else if (e.isFile()) out.push(p);
  }
  return out;
}

describe("bunit verify on Debian's unit files", () => {
  test("no false errors and no unknown directives", async () => {
    const root = await unpackedPackages("units", PACKAGES);
    const files = walk(root).filter((f) => /\/systemd\/(system|user)\/[^/]+\.(socket|service)$/.test(f));
    const sockets = files.filter((f) => f.endsWith(".socket"));
    expect(sockets.length).toBeGreaterThan(40);
    const dirs = [...new Set(files.map((f) => f.slice(0, f.lastIndexOf("/"))))];
    let diagnostics = 0;
    for (const dir of dirs) {
      const loader = new UnitLoader([dir, ...dirs.filter((d) => d !== dir)], hostFacts());
      const here = files.filter((f) => f.startsWith(dir + "/") && !f.slice(dir.length + 1).includes("/"));
      const results = verifyUnits(
        here.map((f) => f.slice(dir.length + 1)),
        loader,
      );
      for (const r of results) {
        diagnostics += r.diagnostics.length;
        const bad = r.diagnostics.filter((d) => d.level === "error" || (d.level === "warning" && d.message.startsWith("Unknown")));
        expect(bad.map((d) => `${d.file}:${d.line}: ${d.key}= ${d.message}`)).toEqual([]);
      }
    }
    expect(diagnostics).toBeGreaterThan(0);
  }, 300000);
});
