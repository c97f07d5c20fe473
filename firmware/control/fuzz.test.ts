import { expect, test } from "bun:test";
import { LogRing } from "../core/log-ring.ts";
import { controlHandler, type ControlledSystem } from "./handlers.ts";
import { parseRequest } from "./protocol.ts";
import { fuzzRequest, rng } from "./fuzz-requests.ts";

const sys: ControlledSystem = {
  summary: () => ({ pid: 1, version: "t", startedMs: 0, state: "running", units: 0, failed: [], jobs: 0, controlPath: "/x", cgroup: null }),
  info: () => null,
  properties: () => null,
  names: () => ["a.service", "b.socket"],
  units: () => [],
  sockets: () => [],
  job: async () => "done",
  jobs: async (names) => names.map(() => "done" as const),
  dependencies: () => [],
  jobList: () => [],
  clean: () => null,
  storedFds: () => "no store",
  reloadUnits: async () => ({ added: [], changed: [], removed: [], rejected: [], reopened: [] }),
  catUnit: () => null,
  ring: new LogRing(10),
  reexec: async () => "no",
  controlGid: null,
  logGid: null,
};

test("20 000 hostile requests: every one gets a reply object, bad ones an error message", async () => {
  const seed = Number(process.env.BUNIT_FUZZ_SEED ?? 15);
  const next = rng(seed);
  const h = controlHandler(sys);
  const dec = new TextDecoder();
  let errors = 0;
  for (let i = 0; i < 20_000; i++) {
    const { bytes } = fuzzRequest(next);
    const text = dec.decode(bytes);
    const nl = text.indexOf("\n");
    if (nl < 0) continue; // the oversized case is the server's (server.test.ts)
    let reply: unknown;
    try {
      const req = parseRequest(text.slice(0, nl));
      const who = { cred: { pid: 1, uid: i % 3 === 0 ? 0 : 1000, gid: 1000 }, groups: [] };
      reply = await h(req, who);
    } catch (e) {
      reply = { ok: false, error: (e as Error).message };
      errors++;
    }
    const r = reply as { ok?: unknown; error?: unknown; stream?: unknown };
    if (r.stream) continue;
    expect(typeof r.ok, `seed ${seed}, request ${i}: ${text.slice(0, 200)}`).toBe("boolean");
    if (r.ok === false) {
      expect(typeof r.error).toBe("string");
      expect(r.error as string).not.toMatch(/(null|undefined) is not an object|Cannot read propert|is not a function/);
    }
  }
  expect(errors).toBeGreaterThan(5000);
});
