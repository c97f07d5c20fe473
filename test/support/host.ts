/** Fixed machine facts for tests of specifier expansion. */
import type { HostFacts } from "../../firmware/unit/specifiers.ts";

export const TEST_HOST: HostFacts = {
  architecture: "x86-64",
  bootId: "0123456789abcdef0123456789abcdef",
  machineId: "fedcba9876543210fedcba9876543210",
  hostname: "board.example",
  prettyHostname: "",
  kernelRelease: "6.1.0-test",
  osRelease: { ID: "debian", VERSION_ID: "12", VARIANT_ID: "gadget", BUILD_ID: "b1", IMAGE_ID: "bunit", IMAGE_VERSION: "7" },
  user: { name: "root", uid: 0, gid: 0, group: "root", home: "/root", shell: "/bin/sh" },
  runtimeDir: "/run",
  stateDir: "/var/lib",
  cacheDir: "/var/cache",
  logsDir: "/var/log",
  configDir: "/etc",
  tmpDir: "/tmp",
  varTmpDir: "/var/tmp",
};
