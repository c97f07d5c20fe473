/**
 * OpenFile=: files (or AF_UNIX sockets) the daemon opens for the main process, passed after the
 * socket fds with their names, as systemd does for services that may not reach the path
 * themselves. A missing path is skipped with `graceful`, else the start fails (status 202).
 */
import { statSync } from "node:fs";
import { errorText } from "../core/errors.ts";
import * as n from "../native.ts";
import * as C from "../sys/constants.ts";
import type { OpenFileSpec } from "../unit/service-config.ts";

export interface FileOpener {
  /** An fd for spec (close-on-exec); throws with the errno (ENOENT for a missing path). */
  open(spec: OpenFileSpec): number;
}

const FLAGS: Record<OpenFileSpec["mode"], number> = {
  "read-write": C.O_RDWR,
  "read-only": C.O_RDONLY,
  append: C.O_WRONLY | C.O_APPEND,
  truncate: C.O_WRONLY | C.O_TRUNC,
};

export const realFileOpener: FileOpener = {
  open(spec) {
    if (!statSync(spec.path).isSocket()) return n.open(spec.path, FLAGS[spec.mode] | C.O_CLOEXEC | C.O_NOCTTY);
    // A socket is connected to, trying the stream, datagram and seqpacket types in turn.
    let last: unknown;
    for (const type of [C.SOCK_STREAM, C.SOCK_DGRAM, C.SOCK_SEQPACKET]) {
      const fd = n.socket(C.AF_UNIX, type | C.SOCK_CLOEXEC, 0, true);
      try {
        n.connect(fd, { family: "unix", path: spec.path, abstract: false });
        return fd;
      } catch (e) {
        n.close(fd);
        last = e;
      }
    }
    throw last;
  },
};

/** Thrown when a path cannot be opened (not missing-and-graceful): the start fails with status 202 (FDS). */
export class OpenFileError extends Error {
  readonly status = 202;
}

/** Opens every OpenFile= entry; on a failure the ones opened so far are closed again. */
export function openServiceFiles(
  specs: readonly OpenFileSpec[],
  opener: FileOpener,
  log: { debug(m: string): void },
  close: (fd: number) => void,
): { fd: number; name: string }[] {
  const out: { fd: number; name: string }[] = [];
  for (const spec of specs) {
    try {
      out.push({ fd: opener.open(spec), name: spec.name });
    } catch (e) {
      const missing = (e as { code?: string; errno?: number }).code === "ENOENT" || (e as { errno?: number }).errno === 2;
      if (missing && spec.graceful) {
        log.debug(`OpenFile= ${spec.path} does not exist, skipped (graceful).`);
        continue;
      }
      for (const o of out) close(o.fd);
      throw new OpenFileError(`Failed to open ${spec.path}: ${errorText(e)}`);
    }
  }
  return out;
}
