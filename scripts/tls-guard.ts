import { connect, createServer, isIPv4, type Server, type Socket } from 'node:net';

// The local edge speaks plain HTTP, and workerd's HTTP parser waits for a blank line that a TLS
// ClientHello never sends: skopeo, podman and crane, which try TLS first on an insecure registry, hung
// for their 10 s handshake timeout before falling back. This listener sits on the edge's port, closes
// a connection whose first byte is a TLS handshake record (0x16) at once, and pipes every other
// connection to workerd. It connects from the client's own loopback address, so the Worker still
// sees the real peer in CF-Connecting-IP (127.0.0.2 stays 127.0.0.2).

const TLS_HANDSHAKE = 0x16;
/** A client that sends nothing this long is dropped (workerd would hold it as well). */
const FIRST_BYTE_TIMEOUT_MS = 60_000;

export interface TlsGuard {
  port: number;
  /** Connections refused because they opened with a TLS handshake. */
  refused(): number;
  close(): Promise<void>;
}

export interface TlsGuardOptions {
  host: string;
  /** 0 picks a free port. */
  port: number;
  target: { host: string; port: number };
}

export function startTlsGuard(options: TlsGuardOptions): Promise<TlsGuard> {
  let refused = 0;
  const sockets = new Set<Socket>();
  const server: Server = createServer({ noDelay: true }, (client) => {
    sockets.add(client);
    client.once('close', () => sockets.delete(client));
    client.on('error', () => client.destroy());
    client.setTimeout(FIRST_BYTE_TIMEOUT_MS, () => client.destroy());
    client.once('data', (first: Buffer) => {
      client.setTimeout(0);
      if (first[0] === TLS_HANDSHAKE) {
        refused++;
        client.destroy();
        return;
      }
      client.pause();
      const upstream = connect({ host: options.target.host, port: options.target.port, noDelay: true, ...sourceAddress(client) });
      sockets.add(upstream);
      upstream.once('close', () => sockets.delete(upstream));
      upstream.on('error', () => client.destroy());
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
      upstream.once('connect', () => {
        upstream.write(first);
        client.pipe(upstream);
        upstream.pipe(client);
        client.resume();
      });
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      const { port } = server.address() as { port: number };
      resolve({
        port,
        refused: () => refused,
        close: () =>
          new Promise((done) => {
            for (const socket of sockets) socket.destroy();
            server.close(() => done());
          }),
      });
    });
  });
}

/** Connect from the client's loopback address so workerd sees it as the peer; otherwise the default. */
function sourceAddress(client: Socket): { localAddress?: string } {
  const address = client.remoteAddress?.replace(/^::ffff:/, '');
  return address && isIPv4(address) && address.startsWith('127.') ? { localAddress: address } : {};
}
