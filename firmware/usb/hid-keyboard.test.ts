import { describe, expect, test } from "bun:test";
import { BOOT_KEYBOARD_REPORT_DESCRIPTOR, hidDescriptor, keyFor, textToReports } from "./hid-keyboard.ts";

describe("HID boot keyboard", () => {
  test("the report descriptor is the 63 bytes of HID 1.11 E.6, announced by the HID descriptor", () => {
    expect(BOOT_KEYBOARD_REPORT_DESCRIPTOR.length).toBe(63);
    expect(Array.from(hidDescriptor(63))).toEqual([9, 0x21, 0x11, 0x01, 0, 1, 0x22, 63, 0]);
  });

  test("characters map to usage ids and shift", () => {
    expect(keyFor("a")).toEqual({ usage: 0x04, modifiers: 0 });
    expect(keyFor("Z")).toEqual({ usage: 0x1d, modifiers: 2 });
    expect(keyFor("1")).toEqual({ usage: 0x1e, modifiers: 0 });
    expect(keyFor("0")).toEqual({ usage: 0x27, modifiers: 0 });
    expect(keyFor("!")).toEqual({ usage: 0x1e, modifiers: 2 });
    expect(keyFor("\n")).toEqual({ usage: 0x28, modifiers: 0 });
    expect(keyFor("é")).toBeNull();
  });

  test("text becomes press/release pairs; unmapped characters are reported", () => {
    const { reports, skipped } = textToReports("aA é");
    expect(reports.map((r) => Array.from(r))).toEqual([
      [0, 0, 4, 0, 0, 0, 0, 0],
      [0, 0, 0, 0, 0, 0, 0, 0],
      [2, 0, 4, 0, 0, 0, 0, 0],
      [0, 0, 0, 0, 0, 0, 0, 0],
      [0, 0, 0x2c, 0, 0, 0, 0, 0],
      [0, 0, 0, 0, 0, 0, 0, 0],
    ]);
    expect(skipped).toEqual(["é"]);
  });
});
