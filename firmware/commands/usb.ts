/**
 * `bunit usb ...`: the descriptor compiler and the gadget description on the command line.
 *
 *   bunit usb compile SPEC [--out DIR]      spec (.toml/.json) -> DIR/descriptors.bin, DIR/strings.bin
 *                                           (without --out: a summary and the blobs in hex)
 *   bunit usb dump DESCRIPTORS [STRINGS]    FunctionFS blobs -> the spec, as JSON (compilable again)
 *   bunit usb check-gadget FILE             validates a gadget description (.toml/.json)
 *
 * Exit status 0 on success, 1 on an invalid input (the error names the file and the place).
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseFunctionSpec } from "../usb/descriptor-spec.ts";
import { compileFunction, decodeFunction } from "../usb/ffs-blobs.ts";
import { parseGadgetFile } from "../usb/gadget-config.ts";
import { errorText } from "../core/errors.ts";

const USAGE = `usage:
  bunit usb compile SPEC [--out DIR]
  bunit usb dump DESCRIPTORS [STRINGS]
  bunit usb check-gadget FILE
`;

const hexLines = (b: Uint8Array) => {
  const out: string[] = [];
  for (let i = 0; i < b.length; i += 16)
    out.push(`  ${i.toString(16).padStart(4, "0")}  ${Array.from(b.subarray(i, i + 16), (x) => x.toString(16).padStart(2, "0")).join(" ")}`);
  return out.join("\n");
};

export function runUsb(args: string[], out = (s: string) => process.stdout.write(s), err = (s: string) => process.stderr.write(s)): number {
  const [sub, ...rest] = args;
  try {
    switch (sub) {
      case "compile": {
        const i = rest.indexOf("--out");
        const dir = i >= 0 ? rest[i + 1] : undefined;
        const file = rest.find((a, j) => !a.startsWith("--") && (i < 0 || j !== i + 1));
        if (!file || (i >= 0 && !dir)) break;
        const c = compileFunction(parseFunctionSpec(readFileSync(file, "utf8"), file));
        if (dir) {
          mkdirSync(dir, { recursive: true });
          writeFileSync(join(dir, "descriptors.bin"), c.descriptors);
          writeFileSync(join(dir, "strings.bin"), c.strings);
          out(
            `${join(dir, "descriptors.bin")} (${c.descriptors.length} bytes), ${join(dir, "strings.bin")} (${c.strings.length} bytes); endpoint files ${c.endpointFiles.join(" ") || "none"}\n`,
          );
        } else {
          out(
            `${file}: endpoint files ${c.endpointFiles.join(" ") || "none"}\ndescriptors (${c.descriptors.length} bytes):\n${hexLines(c.descriptors)}\nstrings (${c.strings.length} bytes):\n${hexLines(c.strings)}\n`,
          );
        }
        return 0;
      }
      case "dump": {
        const [d, s] = rest;
        if (!d) break;
        let doc: Record<string, unknown>;
        try {
          doc = decodeFunction(new Uint8Array(readFileSync(d)), s ? new Uint8Array(readFileSync(s)) : undefined);
        } catch (e) {
          throw new Error(`${d}${s ? ` + ${s}` : ""}: ${errorText(e)}`);
        }
        out(JSON.stringify(doc, null, 2) + "\n");
        return 0;
      }
      case "check-gadget": {
        const [f] = rest;
        if (!f) break;
        const g = parseGadgetFile(readFileSync(f, "utf8"), f);
        out(
          `${f}: gadget ${g.name}, ${g.functions.map((x) => x.id + (x.mount ? ` (FunctionFS at ${x.mount})` : "")).join(", ")}; ${g.configs.length} configuration(s)\n`,
        );
        return 0;
      }
    }
  } catch (e) {
    err(`bunit usb ${sub}: ${errorText(e)}\n`);
    return 1;
  }
  err(USAGE);
  return 2;
}
