import { expect, test } from "bun:test";
import { join } from "node:path";

/**
 * acceptOne() at the process's fd limit, for real: a child process lowers its limit, fills its
 * fd table, and calls acceptOne() on a listening socket with a connection waiting.
 */
test("acceptOne answers 'exhausted' at EMFILE (the connection stays queued), and accepts once an fd is free", async () => {
  const script = join(import.meta.dir, "..", "testing", "accept-emfile-probe.ts");
  const p = Bun.spawn(["prlimit", "--nofile=64:64", process.execPath, script], { stdout: "pipe", stderr: "pipe" });
  const out = await new Response(p.stdout).text();
  const err = await new Response(p.stderr).text();
  expect(await p.exited).toBe(0);
  expect(err).toContain("pausing");
  expect(JSON.parse(out)).toEqual({ atLimit: "exhausted", afterClose: "accepted" });
});
