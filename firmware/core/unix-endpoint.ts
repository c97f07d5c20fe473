/**
 * The daemon's own AF_UNIX endpoints (control socket, notify socket): the directory made,
 * a stale node replaced, bound, and opened to every user (mode 0666: the daemon itself decides
 * who may do what, from the caller's credentials).
 */
import { chmodSync, mkdirSync, rmSync } from "node:fs";
import { dirname } from "node:path";
import * as n from "../native.ts";
import { AF_UNIX } from "../sys/constants.ts";

/** A bound socket of the given type at path; `setup` runs before the fd is returned and closes it on failure too. */
export function bindUnixPath(path: string, type: number, setup: (fd: number) => void = () => {}): number {
  mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
  rmSync(path, { force: true });
  const fd = n.socket(AF_UNIX, type);
  try {
    n.bind(fd, { family: "unix", path, abstract: false }, path);
    chmodSync(path, 0o666);
    setup(fd);
  } catch (e) {
    n.close(fd);
    throw e;
  }
  return fd;
}
