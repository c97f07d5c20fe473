import { afterEach, describe, expect, test } from "bun:test";
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmdirSync, rmSync, unlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FakeClock } from "../core/clock.ts";
import { DescriptionError } from "../lib/description-schema.ts";
import { parseGadgetFile, validateGadgetConfig } from "./gadget-config.ts";
import { Gadget, type GadgetIo } from "./gadget.ts";

const TOML = `
name = "g1"
vendor_id = 0x1d6b
product_id = 0x0104
[strings.0x409]
manufacturer = "bunit"
product = "test gadget"
serialnumber = "0001"
[[functions]]
kind = "ffs"
instance = "loop"
mount = "@ROOT@/ffs/loop"
[[functions]]
kind = "ncm"
instance = "usb0"
attrs = { host_addr = "02:00:00:00:00:01", qmult = 5 }
[[configs]]
label = "default"
max_power = 100
functions = ["ffs.loop", "ncm.usb0"]
`;

describe("gadget configuration", () => {
  test("a valid description, with defaults filled in", () => {
    const c = parseGadgetFile(TOML.replace("@ROOT@", "/run"), "g.toml");
    expect(c.device).toMatchObject({ idVendor: 0x1d6b, idProduct: 0x0104, bcdDevice: 0x0100, bcdUSB: 0x0200, bMaxPacketSize0: 64 });
    expect(c.strings).toEqual({ "0x0409": { manufacturer: "bunit", product: "test gadget", serialnumber: "0001" } });
    expect(c.functions.map((f) => [f.id, f.mount])).toEqual([
      ["ffs.loop", "/run/ffs/loop"],
      ["ncm.usb0", undefined],
    ]);
    expect(c.functions[1]!.attrs).toEqual({ host_addr: "02:00:00:00:00:01", qmult: "5" });
    expect(c.configs).toEqual([{ label: "default", maxPower: 100, attributes: 0x80, functions: ["ffs.loop", "ncm.usb0"] }]);
    expect(c.udc).toBe("auto");
    // Without [[configs]], one configuration carries every function; FunctionFS mounts default to /dev/usb-ffs.
    const d = validateGadgetConfig({ vendor_id: 1, product_id: 2, functions: [{ kind: "ffs", instance: "a" }] }, "x");
    expect(d.configs[0]!.functions).toEqual(["ffs.a"]);
    expect(d.functions[0]!.mount).toBe("/dev/usb-ffs/a");
  });

  test("every problem is named with its key, all at once", () => {
    let err: DescriptionError | undefined;
    try {
      validateGadgetConfig(
        {
          vendor_id: 0x10000,
          colour: "red",
          strings: { english: { product: "x" } },
          functions: [
            { kind: "floppy", instance: "a" },
            { kind: "ffs", instance: "b c", mount: "relative" },
            { kind: "ecm", instance: "e", mount: "/x" },
          ],
          configs: [{ functions: ["ffs.nope"], attributes: 0x40 }],
        },
        "board.toml",
        "gadget",
      );
    } catch (e) {
      err = e as DescriptionError;
    }
    expect(err).toBeInstanceOf(DescriptionError);
    const text = err!.message;
    for (const p of [
      "board.toml: invalid gadget configuration",
      "gadget.colour: unknown setting",
      "gadget.vendor_id: 65536 is out of range (0..0xffff)",
      "gadget.product_id: missing",
      "gadget.strings.english: a language is a 16-bit LANGID",
      "gadget.functions[0].kind: must be a gadget function (ffs, acm,",
      'gadget.functions[1].instance: "b c" is not valid',
      "gadget.functions[1].mount: must be an absolute path",
      "gadget.functions[2].mount: only FunctionFS",
      'gadget.configs[0].functions[0]: "ffs.nope" is not one of the functions',
      "gadget.configs[0].attributes: bit 7 must be set",
    ])
      expect(text).toContain(p);
  });

  test("a file that is not TOML is an error naming the file", () => {
    expect(() => parseGadgetFile("vendor_id = = 1", "/etc/bunit/gadget.toml")).toThrow(
      /^\/etc\/bunit\/gadget.toml: invalid gadget configuration:\n {2}TOML syntax: .* \(line 1\)$/,
    );
  });
});

/**
 * configfs stand-in: plain directories. rmdir removes attribute files and empty default groups
 * (strings/, configs/ ...) as configfs does, but fails on anything else left inside.
 */
function fakeIo(root: string, clock: FakeClock) {
  const ready = new Set<string>();
  const listeners = new Set<() => void>();
  const mounted = new Map<string, string>();
  const log: string[] = [];
  const io: GadgetIo = {
    gadgetRoot: join(root, "usb_gadget"),
    udcClass: join(root, "udc"),
    mountFfs: (inst, path) => void mounted.set(path, inst),
    ffsMounts: (inst) => [...mounted].filter(([, i]) => i === inst).map(([p]) => p),
    umount: (p) => void mounted.delete(p),
    rmdir: (p) => {
      for (const e of readdirSync(p)) {
        const st = lstatSync(join(p, e));
        if (st.isFile()) unlinkSync(join(p, e));
        else if (st.isDirectory() && readdirSync(join(p, e)).length === 0) rmdirSync(join(p, e));
      }
      rmdirSync(p);
    },
    functionReady: (m) => ready.has(m),
    onReadyChange: (fn) => {
      listeners.add(fn);
      return () => listeners.delete(fn);
    },
    clock,
    log: { debug: () => {}, info: (m) => log.push(m), warning: (m) => log.push(m), error: (m) => log.push(m) },
  };
  const setReady = (m: string, r: boolean) => {
    if (r) ready.add(m);
    else ready.delete(m);
    for (const l of [...listeners]) l();
  };
  return { io, setReady, mounted, log };
}

describe("gadget composition", () => {
  let root = "";
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  function setup() {
    root = mkdtempSync(join(tmpdir(), "bunit-gadget-"));
    mkdirSync(join(root, "usb_gadget"));
    const clock = new FakeClock();
    const f = fakeIo(root, clock);
    const cfg = parseGadgetFile(TOML.replace("@ROOT@", root), "g.toml");
    return { ...f, clock, g: new Gadget(cfg, f.io), cfg };
  }

  test("compose writes the device, strings, functions and configuration links; teardown removes all of it", () => {
    const { g, mounted } = setup();
    g.compose();
    const d = g.dir;
    expect(readFileSync(join(d, "idVendor"), "utf8")).toBe("0x1d6b\n");
    expect(readFileSync(join(d, "idProduct"), "utf8")).toBe("0x0104\n");
    expect(readFileSync(join(d, "strings/0x0409/product"), "utf8")).toBe("test gadget\n");
    expect(readFileSync(join(d, "functions/ncm.usb0/host_addr"), "utf8")).toBe("02:00:00:00:00:01\n");
    expect(readFileSync(join(d, "configs/c.1/MaxPower"), "utf8")).toBe("100\n");
    expect(readFileSync(join(d, "configs/c.1/strings/0x0409/configuration"), "utf8")).toBe("default\n");
    expect(lstatSync(join(d, "configs/c.1/ffs.loop")).isSymbolicLink()).toBe(true);
    expect([...mounted]).toEqual([[join(root, "ffs/loop"), "loop"]]);
    g.teardown();
    expect(existsSync(d)).toBe(false);
    expect(mounted.size).toBe(0);
    expect(g.state).toBe("down");
  });

  test("a stale gadget of the same name is removed before composing", () => {
    const { g, log } = setup();
    g.compose();
    g.compose();
    expect(log.some((l) => l.includes("exists already"))).toBe(true);
    expect(g.state).toBe("composed");
  });

  test("the UDC is bound only when every FunctionFS function is ready", async () => {
    const { g, clock, setReady } = setup();
    mkdirSync(join(root, "udc/dummy_udc.0"), { recursive: true });
    g.compose();
    let bound = "";
    const p = g.bind().then((u) => (bound = u));
    clock.advance(1_000_000);
    await Bun.sleep(0);
    expect(bound).toBe("");
    expect(g.missing()[0]).toContain("ffs.loop has no descriptors yet");
    expect(g.boundUdc()).toBe("");
    setReady(join(root, "ffs/loop"), true);
    await p;
    expect(bound).toBe("dummy_udc.0");
    expect(g.boundUdc()).toBe("dummy_udc.0");
    g.unbind();
    expect(g.boundUdc()).toBe("");
  });

  test("no UDC: binding fails after the timeout with a clear error", async () => {
    const { g, clock, setReady } = setup();
    g.compose();
    setReady(join(root, "ffs/loop"), true);
    const p = g.bind(2000);
    clock.advance(2_200_000);
    await expect(p).rejects.toThrow(/gadget g1: cannot bind after 2 s: no USB Device Controller in .*udc \(load the board's UDC driver/);
  });

  test("supervise binds again after the kernel unbound the gadget and the function is ready again", async () => {
    const { g, setReady } = setup();
    mkdirSync(join(root, "udc/dummy_udc.0"), { recursive: true });
    g.compose();
    g.supervise();
    setReady(join(root, "ffs/loop"), true);
    await g.bind();
    // The socket restarts: ep0 closed (the kernel clears UDC), then descriptors written again.
    setReady(join(root, "ffs/loop"), false);
    await Bun.write(join(g.dir, "UDC"), "\n");
    expect(g.boundUdc()).toBe("");
    // Ready again: supervise() binds at once (the retry timer is on the fake clock).
    setReady(join(root, "ffs/loop"), true);
    expect(g.boundUdc()).toBe("dummy_udc.0");
    expect(g.state).toBe("bound");
  });
});
