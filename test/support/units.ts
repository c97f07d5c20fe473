/** Builds units from text for tests (no files). */
import { parseUnitText } from "../../firmware/unit/ini-syntax.ts";
import { buildUnit, type LoadedUnit } from "../../firmware/unit/unit-file.ts";
import { TEST_HOST } from "./host.ts";

export function unitFromText(name: string, text: string, dropins: string[] = []): LoadedUnit {
  return buildUnit({
    name,
    fragment: parseUnitText(text, `/test/${name}`),
    fragmentPath: `/test/${name}`,
    dropins: dropins.map((d, i) => parseUnitText(d, `/test/${name}.d/${i}.conf`)),
    host: TEST_HOST,
  });
}

export function socketFromText(body: string, name = "t.socket") {
  const u = unitFromText(name, `[Socket]\n${body}\n`);
  return { unit: u, socket: u.socket!, diagnostics: u.diagnostics };
}
