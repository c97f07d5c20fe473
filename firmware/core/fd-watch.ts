/**
 * The fd readiness watcher every I/O user receives by injection (the daemon's is the native
 * epoll thread; tests pass a fake). Nothing outside firmware/native.ts creates one.
 */
export interface FdWatch {
  watch(fd: number, events: number, handler: (revents: number) => void): void;
  arm(fd: number, events: number): void;
  forget(fd: number): void;
}
