import { expect, test } from "bun:test";
import { listenFds } from "./listen-fds.ts";

test("sd_listen_fds_with_names() semantics", () => {
  const env: Record<string, string | undefined> = { LISTEN_PID: "42", LISTEN_FDS: "2", LISTEN_FDNAMES: "web:" };
  expect(listenFds(env, { pid: 42 })).toEqual([
    { fd: 3, name: "web" },
    { fd: 4, name: "" },
  ]);
  expect(env.LISTEN_FDS).toBeUndefined();
  expect(listenFds({ LISTEN_PID: "41", LISTEN_FDS: "2" }, { pid: 42 })).toEqual([]);
  expect(listenFds({ LISTEN_PID: "42", LISTEN_FDS: "1" }, { pid: 42 })).toEqual([{ fd: 3, name: "unknown" }]);
  expect(() => listenFds({ LISTEN_PID: "42", LISTEN_FDS: "2", LISTEN_FDNAMES: "a" }, { pid: 42 })).toThrow(/1 names for 2 fds/);
});
