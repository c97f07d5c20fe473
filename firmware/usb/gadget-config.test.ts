import { describe, expect, test } from "bun:test";
import { DescriptionError } from "../lib/description-schema.ts";
import { parseGadgetFile, validateGadgetConfig } from "./gadget-config.ts";

function problemsOf(run: () => unknown) {
  try {
    run();
    return [];
  } catch (e) {
    if (!(e instanceof DescriptionError)) throw e;
    return e.problems;
  }
}

describe("gadget description problems", () => {
  test("TOML: each problem with its key and line", () => {
    const text = `name = "g"\nvendor_id = 0x1d6b\nproduct_id = 0x10000\n[strings.0x409]\nproduct = "a\\nb"\n[[functions]]\nkind = "ffs"\ninstance = "a"\nattrs = { x = 1 }\n[[functions]]\nkind = "ffs"\ninstance = "a"\n[[configs]]\nfunctions = ["ffs.a", "ffs.a", 7]\nmax_power = 1000\n`;
    expect(problemsOf(() => parseGadgetFile(text, "g.toml"))).toEqual([
      { path: "product_id", message: "65536 is out of range (0..0xffff)", line: 3 },
      { path: "strings.0x409.product", message: "must be a one-line string of at most 126 characters", line: 5 },
      { path: "functions[0].attrs", message: "FunctionFS functions take no attributes; their descriptors come from the service", line: 9 },
      { path: "configs[0].max_power", message: "1000 is out of range (0..900)", line: 15 },
      { path: "functions[1]", message: "ffs.a is listed twice", line: 10 },
      { path: "functions[1].mount", message: "/dev/usb-ffs/a is used by another function", line: 10 },
      { path: "configs[0].functions[1]", message: "ffs.a is listed twice", line: 14 },
      { path: "configs[0].functions[2]", message: "7 is not one of the functions (ffs.a, ffs.a)", line: 14 },
    ]);
  });

  test("JSON, and a board configuration's [gadget] table", () => {
    const json = JSON.stringify({ vendor_id: 1, product_id: 2, functions: [{ kind: "ffs", instance: "a", mount: "rel" }] }, null, 1);
    expect(problemsOf(() => parseGadgetFile(json, "g.json"))).toEqual([
      { path: "functions[0].mount", message: "must be an absolute path without ..", line: json.split("\n").findIndex((l) => l.includes('"rel"')) + 1 },
    ]);
    const board = `name = "b"\n[kernel]\npackage = "linux"\n[gadget]\nvendor_id = 1\nproduct_id = 2\n[[gadget.functions]]\nkind = "ncm"\ninstance = "u"\nmount = "/x"\n`;
    expect(problemsOf(() => parseGadgetFile(board, "board.toml"))).toEqual([
      { path: "gadget.functions[0].mount", message: 'only FunctionFS (kind = "ffs") functions are mounted', line: 10 },
    ]);
  });

  test("not a table, and the settings that have no default", () => {
    expect(problemsOf(() => validateGadgetConfig([], "x"))).toEqual([{ path: "", message: "must be a table, not a list" }]);
    expect(problemsOf(() => validateGadgetConfig({}, "x", "gadget")).map((p) => `${p.path}: ${p.message}`)).toEqual([
      "gadget.vendor_id: missing (an integer)",
      "gadget.product_id: missing (an integer)",
      "gadget.functions: must list at least one function ([[functions]] with kind and instance)",
    ]);
    expect(
      problemsOf(() =>
        validateGadgetConfig({ vendor_id: 1, product_id: 1, max_packet_size0: 100, functions: [{ kind: "acm", instance: "x" }], configs: [] }, "x"),
      ).map((p) => `${p.path}: ${p.message}`),
    ).toEqual(["max_packet_size0: must be 8, 16, 32, 64 or 512", "configs: must list at least one configuration ([[configs]])"]);
  });
});
