#!/usr/bin/env bun
/**
 * Builds a bootable image for a board described in board-configs/.
 *
 *   bun scripts/build-image.ts [BOARD] [--dry-run] [--force] [--list]
 *
 * BOARD defaults to qemu-x86_64. Everything comes from Debian's packages (kernel and modules,
 * busybox-static, libc6, board firmware; downloaded with a private apt state, unpacked, never
 * installed), the npm registry (Bun for the board's architecture) and this repository (the
 * firmware, the native module built for the board, units). Each step is cached: a second
 * build with nothing changed does no work. --dry-run prints the plan.
 *
 * Output in build/images/BOARD/: vmlinuz, initramfs.cpio.zst (the whole root file system),
 * board.json (what run-qemu needs), and for sdcard boards sdcard.img and sdcard.img.bmap (its
 * block map for `bmaptool copy`).
 */
import { buildBundle } from "./lib/bundle.ts";
import { $ } from "zx";
import { chmodSync, copyFileSync, cpSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { parseBoardConfig, type BoardConfig } from "./lib/board-config.ts";
import { PrivateApt } from "./lib/apt.ts";
import { collectLayers, writeCpio } from "./lib/cpio.ts";
import { moduleClosure, parseModulesDep } from "./lib/kernel-modules.ts";
import { initScript } from "./lib/guest-init.ts";
import { hashTree, StepRunner } from "./lib/steps.ts";
import { buildDir, cacheDir, hostArch, repoRoot } from "./lib/paths.ts";
import { buildNative, pickCompiler } from "./build-native.ts";
import { buildSquashfs, buildStage1, dirBytes } from "./lib/sd-root-build.ts";
import { sdLayout, sfdiskScript, STAGE1_MODULES } from "./lib/sd-root.ts";
import { installLayout } from "../firmware/install/layout.ts";
import { presetImage } from "../firmware/install/operations.ts";

$.verbose = false;

export interface BuiltImage {
  board: BoardConfig;
  dir: string;
  kernel: string;
  initramfs: string;
  kernelVersion: string;
  sdcard?: string;
}

export function loadBoard(nameOrPath: string): BoardConfig {
  const file = nameOrPath.endsWith(".toml") ? nameOrPath : join(repoRoot, "board-configs", `${nameOrPath}.toml`);
  if (!existsSync(file)) {
    const known = readdirSync(join(repoRoot, "board-configs"))
      .filter((f) => f.endsWith(".toml"))
      .map((f) => f.slice(0, -5));
    throw new Error(`no board "${nameOrPath}" (known: ${known.join(", ")})`);
  }
  return parseBoardConfig(readFileSync(file, "utf8"), file.startsWith(repoRoot) ? file.slice(repoRoot.length + 1) : file);
}

function bunVersion(): string {
  return JSON.parse(readFileSync(join(repoRoot, "node_modules/bun/package.json"), "utf8")).version;
}

/** The Bun binary for an architecture: the installed one for the host, else from the npm registry. */
async function bunBinary(arch: string, out: string): Promise<void> {
  const dest = join(out, "usr/bin/bun");
  mkdirSync(dirname(dest), { recursive: true });
  if (arch === hostArch()) {
    copyFileSync(process.execPath, dest);
  } else {
    const pkg = `@oven/bun-linux-${arch}@${bunVersion()}`;
    const tmp = join(out, ".npm");
    mkdirSync(tmp, { recursive: true });
    const r = await $({ cwd: tmp })`npm pack --silent ${pkg}`;
    await $({ cwd: tmp })`tar xzf ${r.stdout.trim()}`;
    copyFileSync(join(tmp, "package/bin/bun"), dest);
    rmSync(tmp, { recursive: true, force: true });
  }
  chmodSync(dest, 0o755);
}

/** node-usb with the native part for the board (host-side tests of the gadget). */
async function usbModules(arch: string, out: string): Promise<void> {
  const nm = join(out, "node_modules");
  mkdirSync(join(nm, "@node-usb"), { recursive: true });
  cpSync(join(repoRoot, "node_modules/usb"), join(nm, "usb"), { recursive: true });
  const plat = `usb-linux-${arch === "x86_64" ? "x64" : "arm64"}-gnu`;
  const local = join(repoRoot, "node_modules/@node-usb", plat);
  if (existsSync(local)) {
    cpSync(local, join(nm, "@node-usb", plat), { recursive: true });
  } else {
    const version = JSON.parse(readFileSync(join(repoRoot, "node_modules/usb/package.json"), "utf8")).version;
    const tmp = join(out, ".npm");
    mkdirSync(tmp, { recursive: true });
    const r = await $({ cwd: tmp })`npm pack --silent @node-usb/${plat}@${version}`;
    await $({ cwd: tmp })`tar xzf ${r.stdout.trim()}`;
    cpSync(join(tmp, "package"), join(nm, "@node-usb", plat), { recursive: true });
    rmSync(tmp, { recursive: true, force: true });
  }
}

const SKIP_TESTS = (p: string) => p.endsWith(".test.ts");

function copyTree(from: string, to: string, skip: (p: string) => boolean = () => false): void {
  cpSync(from, to, { recursive: true, filter: (src) => !skip(src) });
}

function etcFiles(board: BoardConfig, root: string): void {
  const etc = join(root, "etc");
  mkdirSync(etc, { recursive: true });
  writeFileSync(join(etc, "passwd"), "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n");
  writeFileSync(join(etc, "group"), "root:x:0:\nadm:x:4:\nplugdev:x:46:\nnogroup:x:65534:\n");
  writeFileSync(join(etc, "hostname"), board.hostname + "\n");
  writeFileSync(join(etc, "os-release"), `ID=bunit\nNAME="bunit image"\nVARIANT_ID=${board.name}\nPRETTY_NAME="bunit on ${board.description}"\n`);
  writeFileSync(join(etc, "machine-id"), "");
}

export async function buildImage(boardName: string, opts: { dryRun?: boolean; force?: boolean; log?: (l: string) => void } = {}): Promise<BuiltImage> {
  const log = opts.log ?? ((l: string) => console.log(l));
  const board = loadBoard(boardName);
  const arch = board.debianArch;
  const work = join(cacheDir, "image", board.name);
  const outDir = join(buildDir, "images", board.name);
  const steps = new StepRunner(work, { dryRun: !!opts.dryRun, force: !!opts.force, log });
  log(`${opts.dryRun ? "plan for" : "building"} ${board.name} (${board.description}), ${board.arch}`);

  // Debian packages, resolved and downloaded once (cached in .cache/apt).
  // One private apt state for every board: both architectures bunit builds for.
  const apt = new PrivateApt(join(cacheDir, "apt"), ["amd64", "arm64"]);
  if (!opts.dryRun && apt.listsAgeHours() > 24) {
    log("  updating Debian package lists (private apt state) ...");
    await apt.update();
  }
  // A dry run resolves versions from the lists it has (no download), so it shows what is cached.
  const haveLists = apt.listsAgeHours() !== Infinity;
  const resolve = !opts.dryRun || haveLists;
  const kernelPkg = resolve ? await apt.resolveKernel(board.kernel.package, arch) : board.kernel.package;
  const userPkgs = ["busybox-static", "libc6", ...board.rootfs.packages].map((p) => `${p}:${arch}`);
  const wanted = [`${kernelPkg}:${arch}`, ...userPkgs];
  const debs = opts.dryRun ? (resolve ? await Promise.all(wanted.map((p) => apt.debPath(p))) : wanted) : await apt.download(wanted);
  const kernelDeb = debs[0]!;
  log(`  Debian packages: ${debs.map((d) => basename(d)).join(" ")}${board.image.sdcard ? ` ${board.image.sdcard.firmwarePackage}` : ""}`);

  // 1. Kernel, the modules the board loads (and their dependencies), the device tree.
  let kernelVersion = "";
  // An SD-card root also needs what its first stage loads (MMC, squashfs, ext4).
  const modules = [...new Set([...board.kernel.modules, ...(board.image.sdcard?.root === "squashfs" ? STAGE1_MODULES : [])])];
  const kernelOut = await steps.step(
    "kernel",
    `${basename(kernelDeb)}, ${modules.length} modules`,
    { kernelDeb: basename(kernelDeb), modules, dtb: board.kernel.dtb, dtSet: board.kernel.dtSet },
    async (out) => {
      const tmp = join(work, "kernel-unpacked");
      rmSync(tmp, { recursive: true, force: true });
      await $`dpkg-deb -x ${kernelDeb} ${tmp}`;
      const kv = readdirSync(join(tmp, "lib/modules"))[0]!;
      await $`depmod -b ${tmp} ${kv}`;
      const dep = parseModulesDep(readFileSync(join(tmp, "lib/modules", kv, "modules.dep"), "utf8"));
      const builtin = readFileSync(join(tmp, "lib/modules", kv, "modules.builtin"), "utf8");
      const { files, missing } = moduleClosure(dep, modules);
      const notBuiltin = missing.filter((m) => !new RegExp(`/${m.replace(/-/g, "_")}\\.ko`).test(builtin.replace(/-/g, "_")));
      if (notBuiltin.length) throw new Error(`${board.file}: kernel.modules: ${notBuiltin.join(", ")} not found in ${basename(kernelDeb)}`);
      const modRoot = join(out, "rootfs/lib/modules", kv);
      for (const f of files) {
        mkdirSync(dirname(join(modRoot, f)), { recursive: true });
        copyFileSync(join(tmp, "lib/modules", kv, f), join(modRoot, f));
      }
      for (const f of ["modules.builtin", "modules.builtin.modinfo", "modules.order"]) {
        if (existsSync(join(tmp, "lib/modules", kv, f))) copyFileSync(join(tmp, "lib/modules", kv, f), join(modRoot, f));
      }
      await $`depmod -b ${join(out, "rootfs")} ${kv}`;
      mkdirSync(join(out, "boot"), { recursive: true });
      copyFileSync(join(tmp, "boot", `vmlinuz-${kv}`), join(out, "boot/vmlinuz"));
      if (board.kernel.dtb) {
        const dtbDir = join(tmp, "usr/lib", `linux-image-${kv}`);
        const src = join(dtbDir, board.kernel.dtb);
        if (!existsSync(src)) throw new Error(`${board.file}: kernel.dtb: ${board.kernel.dtb} is not in ${basename(kernelDeb)}`);
        const dtb = join(out, "boot", basename(board.kernel.dtb));
        copyFileSync(src, dtb);
        for (const s of board.kernel.dtSet) {
          await $`fdtput -t s ${dtb} ${s.node} ${s.prop} ${s.value}`;
          log(`      device tree: ${s.node} ${s.prop} = "${(await $`fdtget -t s ${dtb} ${s.node} ${s.prop}`).stdout.trim()}"`);
        }
      }
      writeFileSync(join(out, "version"), kv);
      log(`      kernel ${kv}, ${files.length} module files`);
      rmSync(tmp, { recursive: true, force: true });
    },
  );
  if (!opts.dryRun) kernelVersion = readFileSync(join(kernelOut, "version"), "utf8");

  // 2. Userland from Debian: busybox-static, libc6 (for Bun and the native module), extras.
  const userland = await steps.step("userland", userPkgs.join(" "), { debs: debs.slice(1).map((d) => basename(d)) }, async (out) => {
    for (const d of debs.slice(1)) await $`dpkg-deb -x ${d} ${out}`;
    for (const junk of ["usr/share/doc", "usr/share/man", "usr/share/locale", "usr/share/lintian", "usr/lib/gconv"])
      rmSync(join(out, junk), { recursive: true, force: true });
    mkdirSync(join(out, "bin"), { recursive: true });
    if (!existsSync(join(out, "bin/busybox"))) throw new Error("busybox-static did not provide /bin/busybox");
  });

  // 3. Bun for the board's architecture.
  const bun = await steps.step("bun", `Bun ${bunVersion()} for ${board.arch}`, { arch: board.arch, version: bunVersion() }, (out) =>
    bunBinary(board.arch, out),
  );

  // 4. The native module, built for the board.
  const nativeSources = hashTree([join(repoRoot, "native"), join(repoRoot, "scripts/build-native.ts")]);
  const native = await steps.step("native", `libbunit.so for ${board.arch}`, { arch: board.arch, nativeSources }, async (out) => {
    const b = await buildNative({ arch: board.arch, out: join(out, "usr/lib/bunit"), force: true });
    log(`      compiler: ${b.compiler}`);
  });

  // 5. The firmware, units, init, /etc, and for test images the test payload.
  const firmwareInputs = {
    firmware: hashTree([join(repoRoot, "firmware")], SKIP_TESTS),
    bundler: hashTree([join(repoRoot, "scripts/lib/bundle.ts")]),
    units: hashTree(board.units.dirs.map((d) => join(repoRoot, d))),
    tests: board.rootfs.includeTests
      ? hashTree([
          join(repoRoot, "test/guest"),
          join(repoRoot, "test/bench"),
          join(repoRoot, "test/services"),
          join(repoRoot, "package.json"),
          join(repoRoot, "bunfig.toml"),
        ])
      : "",
    board,
    init: initScript(board),
  };
  const payload = await steps.step("firmware", `firmware, units, init${board.rootfs.includeTests ? ", test payload" : ""}`, firmwareInputs, async (out) => {
    const lib = join(out, "usr/lib/bunit");
    copyTree(join(repoRoot, "firmware"), join(lib, "firmware"), SKIP_TESTS);
    // The daemon and CLI run from one bundle with its bytecode (scripts/lib/bundle.ts); the
    // sources beside it are the libraries services import.
    await buildBundle(join(lib, "bunit.js"));
    mkdirSync(join(out, "usr/bin"), { recursive: true });
    writeFileSync(join(out, "usr/bin/bunit"), '#!/bin/sh\nexec /usr/bin/bun /usr/lib/bunit/bunit.js "$@"\n', { mode: 0o755 });
    const units = join(out, "etc/bunit/units");
    mkdirSync(units, { recursive: true });
    for (const d of board.units.dirs) {
      const src = join(repoRoot, d);
      if (!existsSync(src)) throw new Error(`${board.file}: units.dirs: ${d} does not exist`);
      copyTree(src, units);
    }
    // Enablement as the board's presets say (systemd.preset(5) lines; no match: enable), so the
    // daemon's first boot finds its links and changes nothing.
    const enabled = presetImage(installLayout(["/etc/bunit/units", "/run/bunit/units", "/usr/lib/bunit/units"], out), board.units.presets);
    if (enabled.errors.length) throw new Error(`${board.file}: units.presets: ${enabled.errors.join("; ")}`);
    etcFiles(board, out);
    if (board.gadget) writeFileSync(join(out, "etc/bunit/gadget.json"), JSON.stringify(board.gadget.raw, null, 2) + "\n");
    writeFileSync(join(out, "init"), initScript(board), { mode: 0o755 });
    if (board.rootfs.includeTests) {
      const opt = join(out, "opt/bunit");
      mkdirSync(join(opt, "test"), { recursive: true });
      copyTree(join(repoRoot, "test/guest"), join(opt, "test/guest"));
      copyTree(join(repoRoot, "test/bench"), join(opt, "test/bench"));
      // The C programs of the guest benchmarks (FunctionFS reference, vsock service and
      // client), built for the board.
      mkdirSync(join(opt, "bin"), { recursive: true });
      const cc = await pickCompiler(board.arch);
      await $`${cc} -O2 -Wall -Wextra -Werror -o ${join(opt, "bin/ffs-aio-ref")} ${join(repoRoot, "test/bench/usb/ffs-aio-ref.c")} -lpthread`;
      await $`${cc} -O2 -Wall -Wextra -Werror -o ${join(opt, "bin/vsock-sink-source")} ${join(repoRoot, "test/bench/vsock/vsock-sink-source.c")}`;
      for (const f of ["package.json", "bunfig.toml"]) copyFileSync(join(repoRoot, f), join(opt, f));
      symlinkSync("../../usr/lib/bunit/firmware", join(opt, "firmware"));
      await usbModules(board.arch, opt);
    }
  });

  // 6. The initramfs: all layers in one cpio archive, zstd-compressed.
  const layers = [userland, join(kernelOut, "rootfs"), bun, native, payload];
  const initramfs = await steps.step(
    "initramfs",
    "cpio archive of the root file system, zstd",
    { layers: steps.keys(["kernel", "userland", "bun", "native", "firmware"]) },
    async (out) => {
      const entries = collectLayers(layers);
      entries.set("dev/console", { kind: "char", mode: 0o600, major: 5, minor: 1 });
      entries.set("dev/null", { kind: "char", mode: 0o666, major: 1, minor: 3 });
      for (const d of ["proc", "sys", "dev", "run", "tmp", "root", "mnt"])
        if (!entries.has(d)) entries.set(d, { kind: "dir", mode: d === "tmp" ? 0o1777 : 0o755 });
      const cpio = join(out, "initramfs.cpio");
      const n = writeCpio(entries, cpio);
      await $`zstd -q -3 -T0 --rm -f ${cpio} -o ${cpio}.zst`;
      log(`      ${n} entries`);
    },
  );

  if (opts.dryRun) {
    log(`  output: ${outDir}/{vmlinuz,initramfs.cpio.zst,board.json${board.image.format === "sdcard" ? ",sdcard.img,sdcard.img.bmap" : ""}}`);
    return { board, dir: outDir, kernel: "", initramfs: "", kernelVersion: "" };
  }
  mkdirSync(outDir, { recursive: true });
  const kernel = join(outDir, "vmlinuz");
  const initrd = join(outDir, "initramfs.cpio.zst");
  copyFileSync(join(kernelOut, "boot/vmlinuz"), kernel);
  copyFileSync(join(initramfs, "initramfs.cpio.zst"), initrd);
  const result: BuiltImage = { board, dir: outDir, kernel, initramfs: initrd, kernelVersion };

  // 7. SD-card boards: an MBR disk (no loop devices needed) with a FAT boot partition; with
  // root = "squashfs" also the read-only root partition (and a first-stage initramfs to reach
  // it) and room for the data partition, formatted by the board on its first boot.
  if (board.image.sdcard) {
    const sd = board.image.sdcard;
    const squash = sd.root === "squashfs";
    const fwDeb = (await apt.download([sd.firmwarePackage]))[0]!; // Architecture: all
    const rootParts = squash
      ? await steps.step(
          "sdroot",
          "squashfs root partition and first-stage initramfs",
          { layers: steps.keys(["kernel", "userland", "bun", "native", "firmware"]), v: 1 },
          async (out) => {
            await buildSquashfs(layers, out);
            await buildStage1(board.name, userland, join(kernelOut, "rootfs"), out);
          },
        )
      : null;
    const card = await steps.step(
      "sdcard",
      `SD-card image (${sd.size / 2 ** 20} MiB, ${squash ? "FAT boot, squashfs root, data" : "FAT boot partition"}) and its block map`,
      { fw: basename(fwDeb), sd, bmap: 1, before: steps.keys(["initramfs", "kernel", ...(squash ? ["sdroot"] : [])]) },
      async (out) => {
        const fw = join(out, "fw");
        await $`dpkg-deb -x ${fwDeb} ${fw}`;
        const boot = join(out, "boot");
        mkdirSync(boot);
        const blobs = join(fw, "usr/lib/raspi-firmware");
        for (const f of readdirSync(blobs)) copyFileSync(join(blobs, f), join(boot, f));
        copyFileSync(kernel, join(boot, "vmlinuz"));
        copyFileSync(rootParts ? join(rootParts, "stage1.cpio.zst") : initrd, join(boot, "initrd.img"));
        for (const f of readdirSync(join(kernelOut, "boot"))) if (f.endsWith(".dtb")) copyFileSync(join(kernelOut, "boot", f), join(boot, f));
        writeFileSync(join(boot, "config.txt"), sd.configTxt.trim() + "\n");
        writeFileSync(join(boot, "cmdline.txt"), board.kernel.cmdline + "\n");
        const squashImg = rootParts ? join(rootParts, "root.squashfs") : null;
        const layout = squashImg ? sdLayout(sd.size, dirBytes(boot), lstatSync(squashImg).size) : null;
        const fat = join(out, "boot.vfat");
        const partBytes = layout ? layout.bootMiB * 2 ** 20 : sd.size - 2 ** 20;
        await $`mkfs.vfat -F 32 -n BUNITBOOT -C ${fat} ${Math.floor(partBytes / 1024)}`;
        await $`mcopy -i ${fat} -s ${readdirSync(boot).map((f) => join(boot, f))} ::/`;
        const img = join(out, "sdcard.img");
        await $`truncate -s ${sd.size} ${img}`;
        await $({ input: layout ? sfdiskScript(layout) : "label: dos\nstart=2048, type=c, bootable\n" })`sfdisk -q ${img}`;
        await $`dd if=${fat} of=${img} bs=1M seek=1 conv=notrunc,sparse status=none`;
        if (layout && squashImg) {
          await $`dd if=${squashImg} of=${img} bs=1M seek=${layout.rootStartMiB} conv=notrunc,sparse status=none`;
          log(
            `      partitions: boot ${layout.bootMiB} MiB, root ${layout.rootMiB} MiB (squashfs ${(lstatSync(squashImg).size / 2 ** 20).toFixed(1)} MiB), data ${layout.dataMiB} MiB`,
          );
        }
        rmSync(fat);
        // The block map: `bmaptool copy` writes only the blocks in use and checks them.
        await $`bmaptool -q create -o ${img}.bmap ${img}`;
        rmSync(fw, { recursive: true, force: true });
      },
    );
    result.sdcard = join(outDir, "sdcard.img");
    await $`cp --sparse=always ${join(card, "sdcard.img")} ${result.sdcard}`;
    copyFileSync(join(card, "sdcard.img.bmap"), `${result.sdcard}.bmap`);
  }
  writeFileSync(
    join(outDir, "board.json"),
    JSON.stringify(
      { ...board, kernelVersion, files: { kernel: "vmlinuz", initramfs: "initramfs.cpio.zst", ...(result.sdcard ? { sdcard: "sdcard.img" } : {}) } },
      null,
      2,
    ),
  );
  log(`${board.name}: ${outDir} (${steps.ran.length} steps run, ${steps.cached.length} cached)`);
  return result;
}

if (import.meta.main) {
  const args = process.argv.slice(2);
  if (args.includes("--list")) {
    for (const f of readdirSync(join(repoRoot, "board-configs")).filter((x) => x.endsWith(".toml"))) {
      const b = loadBoard(f.slice(0, -5));
      console.log(`${b.name.padEnd(22)} ${b.arch.padEnd(8)} ${b.image.format.padEnd(10)} ${b.description}`);
    }
    process.exit(0);
  }
  const board = args.find((a) => !a.startsWith("--")) ?? "qemu-x86_64";
  try {
    await buildImage(board, { dryRun: args.includes("--dry-run"), force: args.includes("--force") });
  } catch (e) {
    console.error(`build-image: ${(e as Error).message}`);
    process.exit(1);
  }
}
