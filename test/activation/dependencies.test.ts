import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { TestDaemon, waitFor } from "../support/harness.ts";

const log = (tag: string) => `/bin/sh -c 'echo ${tag} >> @DIR@/order'`;

describe("[Unit] dependencies and [Install]", () => {
  let d: TestDaemon;
  beforeAll(async () => {
    d = await TestDaemon.start({
      "a.service": `[Unit]\nRequires=b.service\nAfter=b.service\n[Service]\nType=oneshot\nExecStart=${log("a")}\nRemainAfterExit=yes\n`,
      "b.service": `[Unit]\nWants=c.service\nBefore=b.service\n[Service]\nType=oneshot\nExecStart=/bin/sleep 0.2\nExecStart=${log("b")}\nRemainAfterExit=yes\n`,
      "c.service": `[Unit]\nBefore=b.service\n[Service]\nType=oneshot\nExecStart=${log("c")}\nRemainAfterExit=yes\n`,
      "needsbad.service": `[Unit]\nRequires=bad.service\nAfter=bad.service\n[Service]\nExecStart=${log("needsbad")}\n`,
      "bad.service": "[Service]\nType=oneshot\nExecStart=/bin/false\n",
      "wantsbad.service": `[Unit]\nWants=bad.service\nAfter=bad.service\n[Service]\nType=oneshot\nExecStart=${log("wantsbad")}\nRemainAfterExit=yes\n`,
      "bound.service": "[Unit]\nBindsTo=anchor.service\nAfter=anchor.service\n[Service]\nExecStart=/bin/sleep 60\n",
      "anchor.service": "[Service]\nExecStart=/bin/sleep 60\n",
      "x.service": "[Unit]\nConflicts=y.service\n[Service]\nExecStart=/bin/sleep 60\n",
      "y.service": "[Service]\nExecStart=/bin/sleep 60\n",
      "enabled.service": `[Service]\nType=oneshot\nExecStart=${log("enabled")}\nRemainAfterExit=yes\n[Install]\nWantedBy=multi-user.target\n`,
      "notenabled.service": `[Service]\nType=oneshot\nExecStart=${log("notenabled")}\n`,
      "mytarget.target": "[Unit]\nWants=fromtarget.service\n",
      "fromtarget.service": `[Service]\nType=oneshot\nExecStart=${log("fromtarget")}\nRemainAfterExit=yes\n`,
      "fail.service": "[Unit]\nOnFailure=onfail.service\n[Service]\nExecStart=/bin/false\n",
      "onfail.service": `[Service]\nType=oneshot\nExecStart=${log("onfail")}\n`,
    });
  });
  afterAll(() => d?.stop());
  const order = () => readFileSync(d.path("order"), "utf8").trim().split("\n");

  test("[Install] WantedBy= units start at boot, others do not", () => {
    expect(order()).toEqual(["enabled"]);
    expect(d.sub("enabled.service")).toBe("exited");
  });

  test("Requires=, Wants=, After=, Before= pull in and order", async () => {
    expect(await d.manager.start("a.service")).toBe("done");
    expect(order().slice(1)).toEqual(["c", "b", "a"]);
  });

  test("a failed Requires= dependency fails the dependent job; Wants= does not", async () => {
    expect(await d.manager.start("needsbad.service")).toBe("dependency");
    expect(d.sub("needsbad.service")).toBe("dead");
    expect(await d.manager.start("wantsbad.service")).toBe("done");
    expect(order()).not.toContain("needsbad");
    expect(order()).toContain("wantsbad");
  });

  test("BindsTo= stops the unit when the unit it is bound to stops", async () => {
    expect(await d.manager.start("bound.service")).toBe("done");
    expect(d.sub("anchor.service")).toBe("running");
    await d.manager.stop("anchor.service");
    await d.waitState("bound.service", "dead");
  });

  test("Conflicts= stops the other unit", async () => {
    await d.manager.start("y.service");
    expect(d.sub("y.service")).toBe("running");
    await d.manager.start("x.service");
    await d.waitState("y.service", "dead");
    expect(d.sub("x.service")).toBe("running");
  });

  test("targets pull in their Wants=", async () => {
    expect(await d.manager.start("mytarget.target")).toBe("done");
    expect(order()).toContain("fromtarget");
  });

  test("OnFailure= starts when a unit fails", async () => {
    await d.manager.start("fail.service");
    await d.waitState("fail.service", "failed");
    await waitFor(() => existsSync(d.path("order")) && order().includes("onfail"), 5000, "onfail.service to run");
    expect(order()).toContain("onfail");
  });
});
