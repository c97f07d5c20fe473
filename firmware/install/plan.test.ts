import { describe, expect, test } from "bun:test";
import { newInstallSection, type InstallSection } from "../unit/unit-section.ts";
import { templateOf } from "../unit/unit-name.ts";
import { installLayout } from "./layout.ts";
import { LinkSet, type Link } from "./links.ts";
import { NO_INSTALL_WARNING, planDisable, planEnable, planPreset, type UnitFiles } from "./plan.ts";
import { parsePresets } from "./preset.ts";
import { isEnabledExitCode, unitFileState } from "./state.ts";

const ETC = "/etc/bunit/units";
const RUN = "/run/bunit/units";
const LIB = "/usr/lib/bunit/units";
const layout = installLayout([ETC, RUN, LIB]);
const unitDirs = layout.searchPath;

interface FakeUnit {
  install?: Partial<InstallSection>;
  masked?: boolean;
  /** The name is a link to this unit file. */
  aliasOf?: string;
  dir?: string;
  /** The name is a link in dir to this file outside the unit directories. */
  linkedTo?: string;
}

/** Unit files by name; instances fall back to their template, as the loader does. */
export function fakeFiles(units: Record<string, FakeUnit>): UnitFiles {
  const pathOf = (n: string) => units[n]?.linkedTo ?? `${units[n]?.dir ?? LIB}/${n}`;
  const locate: UnitFiles["locate"] = (name) => {
    const u = units[name];
    if (u?.masked) return { path: null, masked: true, canonical: name, dir: u.dir ?? ETC, link: true };
    if (u?.aliasOf) return { path: pathOf(u.aliasOf), masked: false, canonical: u.aliasOf, dir: u.dir ?? ETC, link: true };
    if (u) return { path: pathOf(name), masked: false, canonical: name, dir: u.dir ?? LIB, link: !!u.linkedTo };
    const tpl = templateOf(name);
    if (tpl && units[tpl]) return { ...locate(tpl), canonical: name };
    return { path: null, masked: false, canonical: name, dir: null, link: false };
  };
  return {
    locate,
    install: (name) => {
      const own = units[name] ?? (templateOf(name) ? units[templateOf(name)!] : undefined);
      if (!own || own.masked) return null;
      return { ...newInstallSection(), ...own.install };
    },
  };
}

const files = fakeFiles({
  "web.service": { install: { wantedBy: ["multi-user.target"], alias: ["www.service"], also: ["web.socket"] } },
  "web.socket": { install: { wantedBy: ["sockets.target"] } },
  "req.service": { install: { requiredBy: ["multi-user.target"], upheldBy: ["graphical.target"] } },
  "static.service": {},
  "indirect.service": { install: { also: ["web.socket"] } },
  "getty@.service": { install: { wantedBy: ["getty.target"], defaultInstance: "tty1", alias: ["term@.service"] } },
  "nodefault@.service": { install: { wantedBy: ["multi-user.target"] } },
  "per@.service": { install: { wantedBy: ["per@.target"] } },
  "masked.service": { masked: true, install: { wantedBy: ["multi-user.target"] } },
  "www2.service": { aliasOf: "web.service" },
  "badalias.service": { install: { alias: ["bad.socket"] } },
  "local.service": { dir: ETC, linkedTo: "/opt/local/local.service", install: { wantedBy: ["multi-user.target"] } },
});

function enable(names: string[], links: Link[] = [], force = false) {
  const set = new LinkSet(links);
  const report = planEnable(set, files, ETC, names, { unitDirs, force });
  return { set, report, made: set.changes.map((c) => (c.kind === "link" ? `${c.path} -> ${c.target}` : `rm ${c.path}`)) };
}

describe("enable", () => {
  test("WantedBy=, Alias= and Also=", () => {
    const { made, report } = enable(["web.service"]);
    expect(report).toEqual({ errors: [], warnings: [] });
    expect(made).toEqual([
      `${ETC}/multi-user.target.wants/web.service -> ${LIB}/web.service`,
      `${ETC}/www.service -> ${LIB}/web.service`,
      `${ETC}/sockets.target.wants/web.socket -> ${LIB}/web.socket`,
    ]);
  });

  test("RequiredBy= and UpheldBy= go to .requires/ and .upholds/", () => {
    expect(enable(["req.service"]).made).toEqual([
      `${ETC}/multi-user.target.requires/req.service -> ${LIB}/req.service`,
      `${ETC}/graphical.target.upholds/req.service -> ${LIB}/req.service`,
    ]);
  });

  test("a template is enabled as its DefaultInstance=, its alias as the same instance", () => {
    expect(enable(["getty@.service"]).made).toEqual([
      `${ETC}/getty.target.wants/getty@tty1.service -> ${LIB}/getty@.service`,
      `${ETC}/term@tty1.service -> ${LIB}/getty@.service`,
    ]);
  });

  test("an instance links its own name to the template", () => {
    expect(enable(["getty@ttyS0.service"]).made).toEqual([
      `${ETC}/getty.target.wants/getty@ttyS0.service -> ${LIB}/getty@.service`,
      `${ETC}/term@ttyS0.service -> ${LIB}/getty@.service`,
    ]);
  });

  test("a template target takes the unit's instance", () => {
    expect(enable(["per@x.service"]).made).toEqual([`${ETC}/per@x.target.wants/per@x.service -> ${LIB}/per@.service`]);
  });

  test("a template without DefaultInstance= enables nothing and says why", () => {
    const { made, report } = enable(["nodefault@.service"]);
    expect(made).toEqual([]);
    expect(report.warnings[0]).toContain("without DefaultInstance=");
  });

  test("no install rules: a warning, no error", () => {
    const { made, report } = enable(["static.service"]);
    expect(made).toEqual([]);
    expect(report).toEqual({ errors: [], warnings: [NO_INSTALL_WARNING] });
  });

  test("masked and missing units are errors", () => {
    expect(enable(["masked.service"]).report.errors).toEqual(["Unit file masked.service is masked."]);
    expect(enable(["nope.service"]).report.errors).toEqual(["Unit file nope.service does not exist."]);
  });

  test("an alias name enables the real unit", () => {
    expect(enable(["www2.service"]).made[0]).toBe(`${ETC}/multi-user.target.wants/web.service -> ${LIB}/web.service`);
  });

  test("an alias of another type is refused", () => {
    expect(enable(["badalias.service"]).report.errors[0]).toContain('invalid unit alias "bad.socket"');
  });

  test("an existing link elsewhere is a conflict unless forced; the same link is left alone", () => {
    const other = { path: `${ETC}/www.service`, target: `${LIB}/other.service` };
    const c = enable(["web.service"], [other]);
    expect(c.report.errors).toEqual([`Failed to enable unit: File ${ETC}/www.service already exists and is a symlink to ${LIB}/other.service.`]);
    const f = enable(["web.service"], [other], true);
    expect(f.report.errors).toEqual([]);
    expect(f.set.changes.find((x) => x.path === `${ETC}/www.service`)).toEqual({
      kind: "link",
      path: `${ETC}/www.service`,
      target: `${LIB}/web.service`,
      replaces: `${LIB}/other.service`,
    });
    const same = enable(["web.socket"], [{ path: `${ETC}/sockets.target.wants/web.socket`, target: `${LIB}/web.socket` }]);
    expect(same.made).toEqual([]);
  });
});

function disable(names: string[], links: Link[]) {
  const set = new LinkSet(links);
  const report = planDisable(set, files, ETC, names, { unitDirs });
  return { report, removed: set.changes.map((c) => c.path), left: set.all().map((l) => l.path) };
}

describe("disable", () => {
  const enabled = enable(["web.service", "getty@.service", "getty@ttyS0.service"]).set.all();
  const extra: Link[] = [
    { path: `${ETC}/custom.target.wants/web.service`, target: `${LIB}/web.service` }, // made by hand
    { path: `${LIB}/multi-user.target.wants/web.service`, target: `${LIB}/web.service` }, // vendor
    { path: `${ETC}/web.service`, target: "/dev/null" }, // (a mask would stay)
    { path: `${ETC}/local.service`, target: "/opt/local/local.service" }, // a linked unit file
    { path: `${ETC}/multi-user.target.wants/local.service`, target: "/opt/local/local.service" },
  ];

  test("removes every link to the unit in the directory, with Also=; vendor links and masks stay", () => {
    const { removed, left } = disable(["web.service"], [...enabled, ...extra]);
    expect(removed.sort()).toEqual([
      `${ETC}/custom.target.wants/web.service`,
      `${ETC}/multi-user.target.wants/web.service`,
      `${ETC}/sockets.target.wants/web.socket`,
      `${ETC}/www.service`,
    ]);
    expect(left).toContain(`${LIB}/multi-user.target.wants/web.service`);
    expect(left).toContain(`${ETC}/web.service`);
  });

  test("an instance: only links with its name", () => {
    expect(disable(["getty@ttyS0.service"], enabled).removed.sort()).toEqual([`${ETC}/getty.target.wants/getty@ttyS0.service`]);
  });

  test("a template: all its instances and aliases", () => {
    expect(disable(["getty@.service"], enabled).removed.sort()).toEqual([
      `${ETC}/getty.target.wants/getty@tty1.service`,
      `${ETC}/getty.target.wants/getty@ttyS0.service`,
      `${ETC}/term@tty1.service`,
      `${ETC}/term@ttyS0.service`,
    ]);
  });

  test("a linked unit file keeps its own link", () => {
    expect(disable(["local.service"], extra).removed).toEqual([`${ETC}/multi-user.target.wants/local.service`]);
  });
});

describe("preset", () => {
  const rules = (text: string) => parsePresets([{ name: "a.preset", path: "a.preset", text }]).rules;

  test("preset-all: disables first, then enables; skips aliases, masks and units without install info", () => {
    const set = new LinkSet([{ path: `${ETC}/multi-user.target.wants/req.service`, target: `${LIB}/req.service` }]);
    const names = ["web.socket", "req.service", "static.service", "www2.service", "masked.service", "getty@.service"];
    const r = planPreset(set, files, ETC, names, rules("enable web.socket\nenable getty@.service ttyS0 ttyS1\ndisable *\n"), { unitDirs });
    expect(r).toEqual({ errors: [], warnings: [] });
    expect(set.changes.map((c) => `${c.kind} ${c.path}`)).toEqual([
      `unlink ${ETC}/multi-user.target.wants/req.service`,
      `link ${ETC}/sockets.target.wants/web.socket`,
      `link ${ETC}/getty.target.wants/getty@ttyS0.service`,
      `link ${ETC}/term@ttyS0.service`,
      `link ${ETC}/getty.target.wants/getty@ttyS1.service`,
      `link ${ETC}/term@ttyS1.service`,
    ]);
  });

  test("no rules: everything with install rules is enabled; ignore leaves things as they are", () => {
    const set = new LinkSet([{ path: `${ETC}/multi-user.target.wants/req.service`, target: `${LIB}/req.service` }]);
    planPreset(set, files, ETC, ["web.socket", "req.service"], rules("ignore req.service\n"), { unitDirs });
    expect(set.changes.map((c) => `${c.kind} ${c.path}`)).toEqual([`link ${ETC}/sockets.target.wants/web.socket`]);
  });

  test("modes: enable-only never removes, disable-only never adds", () => {
    const start = () => new LinkSet([{ path: `${ETC}/multi-user.target.wants/req.service`, target: `${LIB}/req.service` }]);
    const r = rules("disable req.service\nenable web.socket\n");
    const a = start();
    planPreset(a, files, ETC, ["web.socket", "req.service"], r, { unitDirs, mode: "enable-only" });
    expect(a.changes.map((c) => c.kind)).toEqual(["link"]);
    const b = start();
    planPreset(b, files, ETC, ["web.socket", "req.service"], r, { unitDirs, mode: "disable-only" });
    expect(b.changes.map((c) => c.kind)).toEqual(["unlink"]);
  });

  test("a missing unit is an error", () => {
    expect(planPreset(new LinkSet(), files, ETC, ["nope.service"], [], { unitDirs }).errors).toEqual(["Unit file nope.service does not exist."]);
  });
});

describe("is-enabled", () => {
  const state = (name: string, links: Link[]) => unitFileState(name, files, links, layout);
  const webLinks = enable(["web.service"]).set.all();

  test("enabled, enabled-runtime, and static when only a vendor directory enables it", () => {
    expect(state("web.service", webLinks)).toBe("enabled");
    expect(state("web.socket", webLinks)).toBe("enabled");
    expect(state("web.socket", [{ path: `${RUN}/sockets.target.wants/web.socket`, target: `${LIB}/web.socket` }])).toBe("enabled-runtime");
    expect(state("web.socket", [{ path: `${LIB}/sockets.target.wants/web.socket`, target: `${LIB}/web.socket` }])).toBe("static");
  });

  test("an Alias= link alone enables", () => {
    expect(state("web.service", [{ path: `${ETC}/www.service`, target: `${LIB}/web.service` }])).toBe("enabled");
  });

  test("disabled, static, indirect, alias, masked, not-found, bad", () => {
    expect(state("web.service", [])).toBe("disabled");
    expect(state("static.service", [])).toBe("static");
    expect(state("indirect.service", [])).toBe("indirect");
    expect(state("www2.service", webLinks)).toBe("alias");
    expect(state("masked.service", [])).toBe("masked");
    expect(state("nope.service", [])).toBe("not-found");
    expect(state("not a unit", [])).toBe("bad");
  });

  test("masked-runtime: the mask is under /run", () => {
    const f = fakeFiles({ "m.service": { masked: true, dir: RUN } });
    expect(unitFileState("m.service", f, [], layout)).toBe("masked-runtime");
  });

  test("linked: the unit file is a link from the configuration directory to elsewhere", () => {
    expect(state("local.service", [{ path: `${ETC}/local.service`, target: "/opt/local/local.service" }])).toBe("linked");
    expect(
      state("local.service", [
        { path: `${ETC}/local.service`, target: "/opt/local/local.service" },
        { path: `${ETC}/multi-user.target.wants/local.service`, target: "/opt/local/local.service" },
      ]),
    ).toBe("enabled");
  });

  test("templates: enabled through DefaultInstance=, indirect through another instance; instances by name", () => {
    const def = enable(["getty@.service"]).set.all();
    const other = enable(["getty@ttyS0.service"]).set.all();
    expect(state("getty@.service", def)).toBe("enabled");
    expect(state("getty@.service", other)).toBe("indirect");
    expect(state("getty@.service", [])).toBe("disabled");
    expect(state("getty@ttyS0.service", other)).toBe("enabled");
    expect(state("getty@tty1.service", other)).toBe("disabled");
  });

  test("exit codes as systemctl's", () => {
    expect(isEnabledExitCode(["enabled"])).toBe(0);
    expect(isEnabledExitCode(["disabled", "static"])).toBe(0);
    for (const s of ["alias", "indirect", "enabled-runtime", "generated", "transient"] as const) expect(isEnabledExitCode([s])).toBe(0);
    for (const s of ["disabled", "masked", "masked-runtime", "linked", "linked-runtime", "bad"] as const) expect(isEnabledExitCode([s])).toBe(1);
    expect(isEnabledExitCode(["not-found"])).toBe(4);
    expect(isEnabledExitCode(["not-found", "disabled"])).toBe(1);
  });
});
