/**
 * A real protocol over ListenUSBFunction=: the HID keyboard example. The host side of the
 * board's kernel (usbhid, hid-generic, evdev) must accept the descriptors the service answers
 * on ep0, create an input device, and see the keys typed through the FIFO; the host's LED
 * state comes back to the service as SET_REPORT.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { copyFileSync, existsSync, mkdtempSync, openSync, readdirSync, readFileSync, writeFileSync, writeSync, closeSync } from "node:fs";
import { join } from "node:path";
import { UsbDaemon, waitFor } from "./support.ts";

const UNITS = "/etc/bunit/units";
const EV_SYN = 0;
const SYN_DROPPED = 3;
const EV_KEY = 1;
const EV_LED = 0x11;
const KEY_LEFTSHIFT = 42;
/** Linux key codes (input-event-codes.h) back to US-layout characters. */
const KEYS: Record<number, [string, string]> = {
  2: ["1", "!"],
  3: ["2", "@"],
  4: ["3", "#"],
  5: ["4", "$"],
  6: ["5", "%"],
  7: ["6", "^"],
  8: ["7", "&"],
  9: ["8", "*"],
  10: ["9", "("],
  11: ["0", ")"],
  12: ["-", "_"],
  28: ["\n", "\n"],
  57: [" ", " "],
  51: [",", "<"],
  52: [".", ">"],
};
"qwertyuiop".split("").forEach((c, i) => (KEYS[16 + i] = [c, c.toUpperCase()]));
"asdfghjkl".split("").forEach((c, i) => (KEYS[30 + i] = [c, c.toUpperCase()]));
"zxcvbnm".split("").forEach((c, i) => (KEYS[44 + i] = [c, c.toUpperCase()]));

function inputEvent(type: number, code: number, value: number): Uint8Array {
  const b = Buffer.alloc(24);
  b.writeUInt16LE(type, 16);
  b.writeUInt16LE(code, 18);
  b.writeInt32LE(value, 20);
  return b;
}

describe("the HID keyboard example on dummy_hcd", () => {
  let daemon: UsbDaemon;
  let eventDev = "";
  beforeAll(async () => {
    const dir = mkdtempSync("/tmp/bunit-hid-");
    for (const f of ["hid-keyboard.socket", "hid-keyboard.service", "hid-keyboard.toml"]) copyFileSync(join(UNITS, f), join(dir, f));
    writeFileSync(
      join(dir, "gadget.json"),
      JSON.stringify({
        name: "bunit-hid",
        vendor_id: 0x1d6b,
        product_id: 0x0107,
        strings: { "0x409": { manufacturer: "bunit", product: "HID test keyboard", serialnumber: "H-1" } },
        functions: [{ kind: "ffs", instance: "keyboard", mount: "/dev/usb-ffs/keyboard" }],
      }),
    );
    daemon = await UsbDaemon.start(dir, join(dir, "gadget.json"));
    await daemon.waitLog(/gadget bunit-hid: bound to dummy_udc\.0/);
    await waitFor(
      () => {
        for (const e of existsSync("/sys/class/input") ? readdirSync("/sys/class/input") : []) {
          if (!e.startsWith("event")) continue;
          const name = readFileSync(`/sys/class/input/${e}/device/name`, "utf8");
          if (name.includes("HID test keyboard")) eventDev = `/dev/input/${e}`;
        }
        return eventDev !== "";
      },
      20000,
      "an input device for the keyboard",
    ).catch((e) => {
      throw new Error(`${(e as Error).message}\n${daemon.log()}`);
    });
  });
  afterAll(async () => {
    await daemon?.stop();
  });

  test("usbhid read the report descriptor from the service and made a keyboard of it", async () => {
    await daemon.waitLog(/hid-keyboard: started/, 5000);
    const hidraw = readdirSync("/sys/class/hidraw").filter((h) => readFileSync(`/sys/class/hidraw/${h}/device/uevent`, "utf8").includes("HID test keyboard"));
    expect(hidraw.length).toBe(1);
    // The kernel keeps the descriptor it parsed: the 63 bytes the service sent.
    const rd = readFileSync(`/sys/class/hidraw/${hidraw[0]}/device/report_descriptor`);
    expect(rd.length).toBe(63);
    expect(rd[0]).toBe(0x05);
    expect(readFileSync(`/sys/class/input/${eventDev.split("/").pop()}/device/capabilities/key`, "utf8").trim()).not.toBe("0");
  });

  test("text written to the FIFO arrives on the host as key presses", async () => {
    // The events are read by busybox cat into a pipe (64 KiB, some 2700 events), not by this
    // process: the device's own queue holds 64 events, about ten keys, and a pause of this
    // process (a collection in a busy TCG guest) would overflow it. The kernel then reports
    // SYN_DROPPED, which is counted and named below.
    const typed: string[] = [];
    let shift = false;
    let dropped = 0;
    const reader = Bun.spawn(["cat", eventDev], { stdout: "pipe", stderr: "inherit" });
    const reading = (async () => {
      let pending = Buffer.alloc(0);
      for await (const chunk of reader.stdout) {
        pending = Buffer.concat([pending, chunk]);
        while (pending.length >= 24) {
          const type = pending.readUInt16LE(16);
          const code = pending.readUInt16LE(18);
          const value = pending.readInt32LE(20);
          pending = pending.subarray(24);
          if (type === EV_SYN && code === SYN_DROPPED) dropped++;
          if (type !== EV_KEY) continue;
          if (code === KEY_LEFTSHIFT) shift = value !== 0;
          else if (value === 1 && KEYS[code]) typed.push(KEYS[code]![shift ? 1 : 0]);
        }
      }
    })();
    try {
      await Bun.sleep(200);
      const text = "Hello, bunit 42!\n";
      const fd = openSync("/run/hid-keyboard.type", "w");
      writeSync(fd, text);
      closeSync(fd);
      await waitFor(() => typed.join("").length >= text.length || dropped > 0, 20000, "the typed text").catch((e) => {
        throw new Error(`${(e as Error).message}: got ${JSON.stringify(typed.join(""))}\n${daemon.log()}`);
      });
      expect(dropped, `the input queue overflowed (SYN_DROPPED ${dropped}), typed ${JSON.stringify(typed.join(""))}`).toBe(0);
      expect(typed.join("")).toBe(text);
    } finally {
      reader.kill();
      await reading.catch(() => {});
    }
  });

  test("the host's Caps Lock LED reaches the service as SET_REPORT", async () => {
    const fd = openSync(eventDev, "w");
    writeSync(fd, Buffer.concat([inputEvent(EV_LED, 1 /* LED_CAPSL */, 1), inputEvent(EV_SYN, 0, 0)]));
    await daemon.waitLog(/hid-keyboard: leds=0x02/);
    writeSync(fd, Buffer.concat([inputEvent(EV_LED, 1, 0), inputEvent(EV_SYN, 0, 0)]));
    closeSync(fd);
    await daemon.waitLog(/hid-keyboard: leds=0x02[\s\S]*hid-keyboard: leds=0x00/);
  });
});
