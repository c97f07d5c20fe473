/**
 * Which FunctionFS mounts have their descriptors: the socket unit marks a mount ready after
 * writing its descriptors and strings (and not ready when it closes ep0); the gadget composer
 * (gadget.ts through gadget-kernel.ts) binds the UDC once every FunctionFS function is ready.
 * One instance per daemon, passed to both; nothing module-global.
 */

export type ReadinessListener = (path: string, ready: boolean) => void;

export class FunctionReadiness {
  private readonly readyPaths = new Set<string>();
  private readonly listeners = new Set<ReadinessListener>();

  /** Records whether the mount at path has its descriptors; listeners hear only real changes. */
  mark(path: string, ready: boolean): void {
    if (ready === this.readyPaths.has(path)) return;
    if (ready) this.readyPaths.add(path);
    else this.readyPaths.delete(path);
    for (const l of [...this.listeners]) l(path, ready);
  }

  ready(path: string): boolean {
    return this.readyPaths.has(path);
  }

  /** Calls fn whenever a mount gets or loses its descriptors; returns the unsubscriber. */
  onChange(fn: ReadinessListener): () => void {
    this.listeners.add(fn);
    return () => void this.listeners.delete(fn);
  }
}
