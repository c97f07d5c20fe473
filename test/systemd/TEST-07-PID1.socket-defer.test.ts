/**
 * systemd test/units/TEST-07-PID1.socket-defer.sh: DeferTrigger=. With DeferTrigger=no a
 * connection replaces a conflicting unit's job; with DeferTrigger=yes the socket waits in
 * `deferred` (surviving daemon-reload) until the conflicting unit is gone, an unrelated job does
 * not hold it back, and DeferTriggerMaxSec= fails the socket. Fixtures:
 * units/TEST-07-PID1.socket-defer/. `systemctl daemon-reload` is `bunit reload`.
 */
import { afterAll, expect, test } from "bun:test";
import { existsSync, rmSync, statSync, writeFileSync } from "node:fs";
import { BunitDaemon, poke, until } from "./support.ts";

const U = "TEST-07-PID1-socket-defer";
let d: BunitDaemon | null = null;

afterAll(async () => {
  await d?.stop();
});

test("DeferTrigger=no replaces conflicting jobs; DeferTrigger=yes waits in deferred; DeferTriggerMaxSec= fails the socket", async () => {
  d = await BunitDaemon.start("TEST-07-PID1.socket-defer");
  const dd = d;
  const sock = dd.path("test");
  const flag = dd.path("flag");
  const touch = () => writeFileSync(flag, "");
  const rm = () => rmSync(flag);
  const subState = (u: string) => dd.prop(u, "SubState");

  const waitForStart = async () => {
    await until(
      () => dd.isActive(`${U}.service`),
      30000,
      `${U}.service active`,
      () => dd.logTail(),
    );
    expect(await subState(`${U}.socket`)).toBe("running");
  };
  const waitForStop = async () => {
    await until(
      async () => !(await dd.isActive(`${U}.service`)),
      30000,
      `${U}.service not active`,
      () => dd.logTail(),
    );
    expect(await subState(`${U}.socket`)).toBe("listening");
  };
  const waitDeferred = (ms: number) => dd.waitProp(`${U}.socket`, "SubState", "deferred", ms);

  // DeferTrigger=no: job mode replace

  await dd.ok("start", `${U}.socket`);
  expect(existsSync(sock) && statSync(sock).isSocket()).toBe(true);
  expect(await subState(`${U}.socket`)).toBe("listening");
  expect(await dd.isActive(`${U}.service`)).toBe(false);

  await poke(sock);
  await waitForStart();

  touch();
  await dd.ok("start", `${U}-conflict2.service`);
  await waitForStop();

  await poke(sock);
  await waitForStart();
  expect(await dd.isActive(`${U}-conflict2.service`)).toBe(false);

  // DeferTrigger=yes

  dd.appendUnit(`${U}.socket`, "DeferTrigger=yes");
  await dd.ok("reload");

  expect(await subState(`${U}.socket`)).toBe("running");
  rm();
  await dd.ok("start", "--no-block", `${U}-conflict1.service`);
  await waitForStop();
  expect(await subState(`${U}-conflict1.service`)).toBe("start");

  // Wait in "deferred" state

  await poke(sock);
  await waitDeferred(30000);
  expect(await dd.isActive(`${U}.service`)).toBe(false);
  expect(await subState(`${U}-conflict1.service`)).toBe("start");

  await dd.ok("reload");
  await waitDeferred(10000);
  expect(await dd.isActive(`${U}.service`)).toBe(false);
  expect(await subState(`${U}-conflict1.service`)).toBe("start");

  // Activate after conflicting unit exits

  touch();
  await until(async () => !(await dd.isActive(`${U}-conflict1.service`)), 30000, `${U}-conflict1.service not active`);
  await waitForStart();

  // An irrelevant job running, during which one of the conflicting units exits

  await dd.ok("start", "--no-block", `${U}-forever.service`);
  await dd.ok("start", `${U}-conflict2.service`);
  await waitForStop();

  await poke(sock);
  await waitDeferred(30000);
  expect(await dd.isActive(`${U}.service`)).toBe(false);

  rm();
  await until(async () => !(await dd.isActive(`${U}-conflict2.service`)), 30000, `${U}-conflict2.service not active`);
  await waitForStart();
  expect(await subState(`${U}-forever.service`)).toBe("start");

  // Fail if DeferTriggerMaxSec= is reached

  await dd.ok("start", "--no-block", `${U}-conflict1.service`);
  await waitForStop();
  expect(await subState(`${U}-conflict1.service`)).toBe("start");

  await poke(sock);
  await waitDeferred(30000);
  expect(await dd.isActive(`${U}.service`)).toBe(false);

  dd.appendUnit(`${U}.socket`, "DeferTriggerMaxSec=20s");
  await dd.ok("reload");

  await waitDeferred(10000);
  expect(await dd.isActive(`${U}.service`)).toBe(false);

  // Upstream sleeps 10 s, then waits up to 30 s: at most 40 s for the 20 s limit.
  await until(
    () => dd.isFailed(`${U}.socket`),
    40000,
    `${U}.socket failed`,
    () => dd.logTail(),
  );
  expect(await subState(`${U}-conflict1.service`)).toBe("start");
}, 240000);
