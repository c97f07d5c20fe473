import { describe, expect, test } from "bun:test";
import { parseFunctionSpec, SpecError, validateFunctionSpec } from "./descriptor-spec.ts";
import { compileFunction, decodeFunction, decodeStrings } from "./ffs-blobs.ts";
import { errorText } from "../core/errors.ts";

const LOOPBACK = `
[function]
speeds = ["full", "high"]
[[interfaces]]
class = "vendor"
name = "loop"
[[interfaces.endpoints]]
number = 1
direction = "out"
type = "bulk"
[[interfaces.endpoints]]
number = 2
direction = "in"
type = "bulk"
`;

const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join(" ");

describe("FunctionFS blobs", () => {
  test("a full/high-speed bulk loopback compiles to the exact v2 layout", () => {
    const c = compileFunction(parseFunctionSpec(LOOPBACK, "loop.toml"));
    const fs = "09 04 00 00 02 ff 00 00 01 07 05 01 02 40 00 00 07 05 82 02 40 00 00";
    const hs = "09 04 00 00 02 ff 00 00 01 07 05 01 02 00 02 00 07 05 82 02 00 02 00";
    const len = 12 + 8 + 46;
    expect(hex(c.descriptors)).toBe(`03 00 00 00 ${len.toString(16)} 00 00 00 03 00 00 00 03 00 00 00 03 00 00 00 ${fs} ${hs}`);
    expect(hex(c.strings)).toBe("02 00 00 00 17 00 00 00 01 00 00 00 01 00 00 00 09 04 6c 6f 6f 70 00");
    expect(c.endpointFiles).toEqual(["ep1", "ep2"]);
  });

  test("SuperSpeed companions, HID descriptors, associations, MS OS descriptors and translations round-trip", () => {
    const spec = parseFunctionSpec(
      `
[function]
all_ctrl_recip = true
[[associations]]
first_interface = 0
count = 2
class = "misc"
subclass = 2
protocol = 1
name = "combo"
[[interfaces]]
class = "hid"
subclass = 1
protocol = 1
name = "keyboard"
hid = { report_length = 63 }
[[interfaces.endpoints]]
number = 1
direction = "in"
type = "interrupt"
max_packet = 8
interval = { full = 10, high = 4, super = 4 }
[[interfaces]]
class = "vendor"
name = "bulk"
[[interfaces.endpoints]]
number = 2
direction = "out"
type = "bulk"
burst = 4
[[interfaces.endpoints]]
number = 2
direction = "in"
type = "bulk"
burst = 4
[strings]
languages = ["en-US", "de-DE"]
[strings.translations.de-DE]
keyboard = "Tastatur"
[[ms_os]]
interface = 1
compatible_id = "WINUSB"
properties = [{ name = "DeviceInterfaceGUIDs", type = "multi-sz", value = ["{3c8fbd0d-4d8f-4b6b-9e43-5a7f0a5c7c11}"] }, { name = "Power", type = "dword-le", value = 7 }]
`,
      "combo.toml",
    );
    const c = compileFunction(spec);
    const doc = decodeFunction(c.descriptors, c.strings);
    const again = compileFunction(validateFunctionSpec(doc, "decoded"));
    expect(hex(again.descriptors)).toBe(hex(c.descriptors));
    expect(hex(again.strings)).toBe(hex(c.strings));
    expect(decodeStrings(c.strings)).toEqual({
      languages: [0x0409, 0x0407],
      strings: { 0x0409: ["combo", "keyboard", "bulk"], 0x0407: ["combo", "Tastatur", "bulk"] },
    });
    expect((doc.interfaces as { class_descriptors?: unknown }[])[0]!.class_descriptors).toEqual([{ type: 0x21, data: "11 01 00 01 22 3f 00" }]);
    expect(doc.ms_os).toEqual([
      {
        interface: 1,
        compatible_id: "WINUSB",
        properties: [
          { name: "DeviceInterfaceGUIDs", type: "multi-sz", value: ["{3c8fbd0d-4d8f-4b6b-9e43-5a7f0a5c7c11}"] },
          { name: "Power", type: "dword-le", value: 7 },
        ],
      },
    ]);
    // SuperSpeed bulk endpoints carry a companion with the burst.
    expect(hex(c.descriptors)).toContain("07 05 02 02 00 04 00 06 30 04 00 00 00");
  });

  test("virtual addresses name the endpoint files after the address", () => {
    const c = compileFunction(parseFunctionSpec(LOOPBACK.replace("[function]", "[function]\nvirtual_addr = true"), "v.toml"));
    expect(c.endpointFiles).toEqual(["ep01", "ep82"]);
  });

  test("JSON specs work too", () => {
    const s = parseFunctionSpec(JSON.stringify({ interfaces: [{ class: 255, endpoints: [{ address: "0x81", type: "bulk" }] }] }), "x.json");
    expect(s.interfaces[0]!.endpoints[0]).toMatchObject({ number: 1, direction: "in" });
  });

  test("malformed specs list every problem with its place", () => {
    const bad = `
[function]
speeds = ["full", "warp"]
colour = "blue"
[[interfaces]]
class = "gizmo"
[[interfaces.endpoints]]
number = 1
direction = "sideways"
type = "bulk"
max_packet = { full = 100 }
[[interfaces.endpoints]]
number = 16
direction = "in"
type = "control"
[[interfaces.class_descriptors]]
type = 0x24
data = "00 01"
[[interfaces]]
number = 5
`;
    try {
      parseFunctionSpec(bad, "bad.usb.toml");
      throw new Error("should fail");
    } catch (e) {
      expect(e).toBeInstanceOf(SpecError);
      const m = errorText(e);
      for (const frag of [
        "bad.usb.toml: invalid USB function description:",
        "function.speeds: must be a non-empty list of full, high, super",
        "function.colour: unknown setting",
        'interfaces[0].class: unknown class "gizmo"',
        'interfaces[0].endpoints[0].direction: must be "in" or "out"',
        "interfaces[0].endpoints[0].max_packet.full: full-speed bulk endpoints use 8, 16, 32 or 64 bytes, not 100",
        "interfaces[0].endpoints[1].number: 16 is out of range (1..15)",
        "control endpoints other than ep0 are not supported by FunctionFS",
        "interfaces[0].class_descriptors[0]: descriptor type 0x24 after a class 0xff interface: FunctionFS (Linux 6.1) accepts only HID",
        "interface numbers must be 0, 1, ... in order; found 5 where 1 was expected",
      ])
        expect(m).toContain(frag);
    }
  });

  test("duplicate endpoints, too many endpoints, bad HID lengths", () => {
    const eps = Array.from(
      { length: 16 },
      (_, i) => `[[interfaces.endpoints]]\nnumber = ${(i % 15) + 1}\ndirection = "${i < 15 ? "in" : "in"}"\ntype = "bulk"\n`,
    ).join("");
    expect(() => parseFunctionSpec(`[[interfaces]]\n${eps}`, "d.toml")).toThrow(/endpoint 0x81 is already used by interfaces\[0\]\.endpoints\[0\]/);
    expect(() => parseFunctionSpec(`[[interfaces]]\nclass = "hid"\n[[interfaces.class_descriptors]]\ntype = 0x21\ndata = "11 01"\n`, "h.toml")).toThrow(
      /a HID descriptor is 9 bytes long/,
    );
  });

  test("corrupt blobs are clear errors", () => {
    const c = compileFunction(parseFunctionSpec(LOOPBACK, "loop.toml"));
    expect(() => decodeFunction(c.descriptors.slice(0, 30))).toThrow(/length field does not match/);
    const bad = c.descriptors.slice();
    bad[0] = 9;
    expect(() => decodeFunction(bad)).toThrow(/not a FunctionFS v2 descriptors blob/);
  });
});
