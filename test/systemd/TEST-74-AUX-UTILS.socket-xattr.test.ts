/**
 * systemd test/units/TEST-74-AUX-UTILS.socket-xattr.sh, part 1 (XAttr*= in a unit file): the
 * bound socket file carries user.varlink=entrypoint, and the three settings are shown again as
 * properties. Upstream skips the whole test (exit 77) where the kernel refuses user.* extended
 * attributes on socket inodes; so does this one, saying so. Part 2 (`systemd-run
 * --socket-property=`, a transient unit) is not applicable: bunit has no transient units.
 * Fixtures: units/TEST-74-AUX-UTILS.socket-xattr/.
 */
import { afterAll, expect, test } from "bun:test";
import { existsSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { xattrAnswer } from "../support/harness.ts";
import { BunitDaemon, run } from "./support.ts";

const probeDir = mkdtempSync(join(tmpdir(), "bunit-st-xattr-"));
const refused = xattrAnswer("path", "user.varlink", probeDir);
rmSync(probeDir, { recursive: true, force: true });
if (refused) console.error(`TEST-74-AUX-UTILS.socket-xattr: skipped as upstream does, the kernel refuses user.* xattrs on socket inodes (${refused})`);

let d: BunitDaemon | null = null;

afterAll(async () => {
  await d?.stop();
});

test.skipIf(refused !== null)(
  "XAttr*= in a unit file: the socket file has user.varlink=entrypoint; show -P echoes the settings",
  async () => {
    d = await BunitDaemon.start("TEST-74-AUX-UTILS.socket-xattr");
    const path = d.path("test-socket-xattr.sock");
    await d.ok("reload");
    await d.ok("start", "test-socket-xattr.socket");

    expect(existsSync(path) && statSync(path).isSocket()).toBe(true);
    const role = await run(["getfattr", "--absolute-names", "--only-values", "--name=user.varlink", path]);
    expect(role.out).toBe("entrypoint");

    expect(await d.prop("test-socket-xattr.socket", "XAttrEntryPoint")).toContain("user.varlink=entrypoint");
    expect(await d.prop("test-socket-xattr.socket", "XAttrListen")).toContain("user.varlink=listen");
    expect(await d.prop("test-socket-xattr.socket", "XAttrAccept")).toContain("user.varlink=server");
  },
  30000,
);
