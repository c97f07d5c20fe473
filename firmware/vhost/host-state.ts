/**
 * The state a back-end's next process hands on: after an exec (SIGHUP), or from the service
 * manager's file descriptor store after a crash (session-store.ts). Types only.
 */
import type { BackendSnapshot } from "./backend.ts";

/** The file descriptor store's bookkeeping, carried across an exec (the fd numbers stay). */
export interface StoreHandover {
  next: number;
  stored: [number, string][];
  stale: string[];
  noteName: string | null;
}

/** What the next process image needs to go on serving the same front-end (see VsockHost.handover()). */
export interface VsockHostState {
  guestCid: number;
  server: { listenFd: number; clientFd: number; sessions: number };
  hostListenFd: number;
  backend: BackendSnapshot;
  nextLocalPort: number;
  /** The file descriptor store's names, across an exec. */
  fdStore?: StoreHandover;
}
