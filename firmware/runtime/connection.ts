/**
 * An Accept=yes connection: accepted by a socket unit, handed to the service instance that
 * serves it. The instance owns it from its construction and releases it in dispose(), the one
 * place where the fd is closed and the socket's MaxConnections= slot freed.
 */

/** An Accept=yes connection as daemon-reexec hands it over. */
export interface SavedConnection {
  fd: number;
  env: Record<string, string>;
  description: string;
  fdName: string;
  /** The socket unit that accepted it, and the key MaxConnectionsPerSource= counted it by. */
  socket: string;
  source: string | null;
}

export interface AcceptedConnection extends SavedConnection {
  /** Closes the fd and frees the slot; only the first call does anything. */
  release(): void;
}

/** Wraps a saved connection with a release() that closes its fd and frees its slot once. */
export function makeConnection(saved: SavedConnection, close: (fd: number) => void, releaseSlot: () => void): AcceptedConnection {
  let open = true;
  return {
    ...saved,
    release: () => {
      if (!open) return;
      open = false;
      close(saved.fd);
      releaseSlot();
    },
  };
}

/** The connection without its release(), as daemon-reexec writes it down. */
export function savedConnection(c: AcceptedConnection): SavedConnection {
  const { release: _release, ...saved } = c;
  return saved;
}
