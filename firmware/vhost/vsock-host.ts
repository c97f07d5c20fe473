/**
 * `bunit vsock host`: a vhost-user-vsock back-end with unix sockets on the host side, wired
 * together (server.ts: the vhost-user socket; backend.ts: the session; vsock-device.ts and
 * vsock-mux.ts: the device; host-uds.ts: the host programs).
 *
 *   const h = startVsockHost({ vhostUser: "/run/vm/vsock.sock", uds: "/run/vm/v.sock", guestCid: 3 });
 *   // qemu ... -chardev socket,id=c,path=/run/vm/vsock.sock -device vhost-user-vsock-pci,chardev=c
 *   //          -object memory-backend-memfd,id=mem,size=1G,share=on -numa node,memdev=mem
 */
import type { FdWatch } from "../core/fd-watch.ts";
import { errorText } from "../core/errors.ts";
import * as n from "../native.ts";
import { F_GETFL, F_SETFL, O_NONBLOCK } from "../sys/constants.ts";
import { VhostUserBackend } from "./backend.ts";
import { UnixHostSide } from "./host-uds.ts";
import { NativeBackendIo, VhostUserServer } from "./server.ts";
import type { VsockHostState } from "./host-state.ts";
import { type FdStoreIo, fdStoreFromEnv, passedFds, SessionStore, stateFds } from "./session-store.ts";
import { VsockDevice } from "./vsock-device.ts";
import { VsockMux } from "./vsock-mux.ts";

export interface VsockHostOptions {
  vhostUser: string;
  uds: string;
  guestCid: number;
  watch?: FdWatch;
  log?: (msg: string) => void;
  bufAlloc?: number;
  /**
   * The service manager's file descriptor store, to survive being killed (session-store.ts):
   * undefined takes it from the environment ($NOTIFY_SOCKET with $FDSTORE), null is none.
   */
  fdStore?: FdStoreIo | null;
  /** The fds the manager passed (default: $LISTEN_FDS), where a killed predecessor's session is found. */
  passedFds?: { fd: number; name: string }[];
}

/**
 * Host ports reserved past the next one in each stored state: a successor that took over after
 * a crash starts there, above any port its predecessor used since its last save.
 */
const PORT_RESERVE = 4096;

export type { VsockHostState } from "./host-state.ts";

export interface VsockHost {
  readonly device: VsockDevice;
  readonly mux: VsockMux;
  readonly hostSide: UnixHostSide;
  readonly server: VhostUserServer;
  close(): void;
  /**
   * Ends every connection (RST to the guest, host sockets closed) and stops, leaving the
   * vhost-user connection, the listening sockets and the session's fds open: the state for
   * startVsockHost(opts, state) in the next process image. QEMU never reconnects a
   * vhost-user-vsock device, so this is how the back-end is upgraded or restarted under it.
   */
  handover(): { state: VsockHostState; fds: number[] };
}

export function startVsockHost(opts: VsockHostOptions, from?: VsockHostState): VsockHost {
  if (!Number.isInteger(opts.guestCid) || opts.guestCid < 3 || opts.guestCid > 0xffff_fffe)
    throw new Error(`guest CID ${opts.guestCid}: must be 3 to 4294967294`);
  const watch = opts.watch ?? n.fdWatcher();
  const log = opts.log ?? (() => {});
  const device = new VsockDevice(opts.guestCid);
  device.log = log;
  const hostSide = new UnixHostSide(opts.uds, watch, log);
  const mux = new VsockMux(hostSide, { guestCid: opts.guestCid, bufAlloc: opts.bufAlloc });
  hostSide.mux = mux;
  hostSide.onWake = () => device.wake();
  device.mux = mux;
  const io = new NativeBackendIo(watch, log);
  const backend = new VhostUserBackend(device, io);
  device.notify = (i) => backend.notify(i);
  const server = new VhostUserServer(opts.vhostUser, backend, watch, log);
  const storeIo = opts.fdStore === undefined ? fdStoreFromEnv() : opts.fdStore;
  const store = storeIo ? new SessionStore(storeIo) : null;
  if (store) io.onClose = (fd) => store.closed(fd);
  let source = "the previous process image";
  if (store && from?.fdStore) store.adopt(from.fdStore);
  if (store && !from) {
    const stored = store.restore(opts.passedFds ?? passedFds());
    if (stored) {
      // The manager passes fds blocking (NonBlocking= is off by default, in systemd as in bunit),
      // and the back-end reads its sockets and eventfds until EAGAIN: a blocking read would stop it.
      for (const fd of stateFds(stored)) n.fcntl(fd, F_SETFL, n.fcntl(fd, F_GETFL) | O_NONBLOCK);
      from = stored;
      source = "the file descriptor store (its previous process died)";
    }
  }
  if (from) {
    if (from.guestCid !== opts.guestCid) throw new Error(`the handed-over session is for guest CID ${from.guestCid}, not ${opts.guestCid}`);
    if (from.hostListenFd >= 0) hostSide.adopt(from.hostListenFd);
    else hostSide.listen();
    server.adopt(from.server);
    backend.restore(from.backend);
    mux.localPortCursor = from.nextLocalPort;
    log(`took over session ${from.server.sessions} from ${source}`);
  } else {
    hostSide.listen();
    try {
      server.listen();
    } catch (e) {
      hostSide.stop();
      throw e;
    }
  }
  let reservedTo = 0;
  const save = () => {
    if (!store) return;
    reservedTo = Math.min(mux.localPortCursor + PORT_RESERVE, 0xffff_fffe);
    const state: VsockHostState = {
      guestCid: opts.guestCid,
      server: server.state(),
      hostListenFd: hostSide.listeningFd,
      backend: backend.describe(),
      nextLocalPort: reservedTo,
    };
    try {
      store.save(state);
    } catch (e) {
      log(`saving the session in the file descriptor store: ${errorText(e)}`);
    }
  };
  if (store) {
    server.onChange = save;
    hostSide.onWake = () => {
      device.wake();
      if (mux.localPortCursor >= reservedTo) save();
    };
    save();
  }
  return {
    device,
    mux,
    hostSide,
    server,
    close: () => {
      server.onChange = () => {};
      store?.clear(); // first: a stored copy would keep QEMU's connection open
      server.close();
      hostSide.stop();
    },
    handover: () => {
      mux.resetAllWithRst("the back-end restarts");
      device.pumpRx(); // the RSTs go out now, while the rings are ours
      const srv = server.handover();
      const hostListenFd = hostSide.handover();
      const snap = backend.snapshot();
      server.onChange = () => {};
      const state: VsockHostState = {
        guestCid: opts.guestCid,
        server: srv,
        hostListenFd,
        backend: snap,
        nextLocalPort: mux.localPortCursor,
        ...(store ? { fdStore: store.handover() } : {}),
      };
      return { state, fds: [srv.listenFd, srv.clientFd, hostListenFd, ...backend.fds()].filter((fd) => fd >= 0) };
    },
  };
}
