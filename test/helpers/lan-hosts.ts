// Simulated hosts on one machine (LAN-first delivery, see README): each host is a loopback address (127.0.0.2, .3, …).
// A host's traffic to the edge leaves from its own address, as it would from behind its own NAT, so
// the edge sees distinct client addresses and records a sidecar's site from its registration.
import { createHash } from 'node:crypto';
import http from 'node:http';
import net from 'node:net';

/** The simulated hosts 127.0.0.<first> … 127.0.0.<first+count-1>. */
export function loopbackHosts(count: number, first = 2): string[] {
  return Array.from({ length: count }, (_, i) => `127.0.0.${first + i}`);
}

export interface HostForwarder {
  url: string;
  close(): void;
}

/** Listens on `host` and relays each connection to `targetUrl` from a socket bound to `host`. */
export async function hostForwarder(host: string, targetUrl: string): Promise<HostForwarder> {
  const target = new URL(targetUrl);
  const sockets = new Set<net.Socket>();
  const server = net.createServer((inbound) => {
    const outbound = net.connect({ host: target.hostname, port: Number(target.port), localAddress: host });
    for (const socket of [inbound, outbound]) {
      sockets.add(socket);
      socket.once('close', () => sockets.delete(socket));
    }
    inbound.pipe(outbound).pipe(inbound);
    inbound.on('error', () => outbound.destroy());
    outbound.on('error', () => inbound.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  return {
    url: `http://${host}:${(server.address() as net.AddressInfo).port}`,
    close: () => {
      server.close();
      for (const socket of sockets) socket.destroy();
    },
  };
}

export interface HostResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  /** sha256 of the body, as `sha256:<hex>`. */
  digest: string;
  bytes: number;
}

export interface HostGetOptions {
  timeoutMs?: number;
  /** Reads no faster than this, as a slow client would (pausing the response). */
  bytesPerSecond?: number;
  /** Called with each body chunk's length as it arrives. */
  onBytes?: (bytes: number) => void;
}

/** GET from a client bound to `localAddress`, hashing the body as it streams; redirects are not followed. */
export function getFrom(localAddress: string, url: string, options: HostGetOptions = {}): Promise<HostResponse> {
  return new Promise((resolve, reject) => {
    const request = http.get(url, { localAddress, timeout: options.timeoutMs ?? 30_000 }, (response) => {
      const hash = createHash('sha256');
      const started = Date.now();
      let bytes = 0;
      response.on('data', (chunk: Buffer) => {
        hash.update(chunk);
        bytes += chunk.length;
        options.onBytes?.(chunk.length);
        const wait = options.bytesPerSecond ? started + (bytes / options.bytesPerSecond) * 1000 - Date.now() : 0;
        if (wait > 5) {
          response.pause();
          setTimeout(() => response.resume(), wait);
        }
      });
      response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, digest: `sha256:${hash.digest('hex')}`, bytes }));
      response.on('error', reject);
      response.on('aborted', () => reject(new Error(`GET ${url}: response aborted after ${bytes} bytes`)));
    });
    request.on('timeout', () => request.destroy(new Error(`GET ${url} timed out`)));
    request.on('error', reject);
  });
}

/** A small JSON document GET from a client bound to `localAddress`. */
export function getJsonFrom<T>(localAddress: string, url: string, timeoutMs = 5_000): Promise<T> {
  return new Promise((resolve, reject) => {
    const request = http.get(url, { localAddress, timeout: timeoutMs }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => {
        if (response.statusCode !== 200) return reject(new Error(`GET ${url}: HTTP ${response.statusCode}`));
        try {
          resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')) as T);
        } catch (err) {
          reject(err as Error);
        }
      });
      response.on('error', reject);
    });
    request.on('timeout', () => request.destroy(new Error(`GET ${url} timed out`)));
    request.on('error', reject);
  });
}

export interface HostPull {
  /** The 307 Location, when the edge redirected. */
  redirect?: string;
  final: HostResponse;
}

/**
 * What a registry client does for one blob: GET from the edge, and follow one 307 from the same host.
 * `loopbackIsHost`: a Location on 127.0.0.1 (what REDIRECT_POLICY=local sends) means this simulated
 * host's own address, as 127.0.0.1 would on a real host.
 */
export async function pullBlobFrom(localAddress: string, edgeUrl: string, name: string, digest: string, options: HostGetOptions & { loopbackIsHost?: boolean } = {}): Promise<HostPull> {
  const first = await getFrom(localAddress, `${edgeUrl}/v2/${name}/blobs/${digest}`, options);
  if (first.status !== 307) return { final: first };
  const location = new URL(first.headers.location as string);
  if (options.loopbackIsHost && location.hostname === '127.0.0.1') location.hostname = localAddress;
  return { redirect: location.href, final: await getFrom(localAddress, location.href, options) };
}
