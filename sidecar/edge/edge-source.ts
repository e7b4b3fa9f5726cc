// The edge as the last blob source. A seam: the sidecar only needs "give me this blob's bytes" and
// "how big is it".
import { setTimeout as sleep } from 'node:timers/promises';
import { OciError, type Digest } from '../../workers/shared/oci/index.js';
import { FILLER_ADDRS_HEADER, FILLER_FAILED_HEADER, FILLER_HEADER, PEER_HEADER } from '../../workers/shared/http/headers.js';

/** Where a client asked for a blob: its repository, and the registry (`?ns=`) when not the edge's default. */
export interface BlobOrigin {
  name: string;
  ns?: string;
}

export type EdgeAnswer =
  /** The bytes from `offset` (0 unless a Range was honoured); `size` is the whole blob's, when known. */
  | { kind: 'blob'; body: AsyncIterable<Uint8Array>; size?: number; offset: number }
  /** Another sidecar of this site is filling the blob from the edge: stream it from that peer. */
  | { kind: 'filler'; peerId: string; multiaddrs: string[] }
  /** The edge does not have it and cannot get it for this origin: a 404, or another 4xx `status`. */
  | { kind: 'missing'; status: number };

export interface EdgeFetchOptions {
  /** Ask for the bytes from here on (a transfer resumed after a peer was cut). */
  offset?: number;
  /** The filler the edge pointed at before failed: ask the edge to serve the blob itself. */
  fillerFailed?: string;
  signal: AbortSignal;
}

export interface EdgeBlobSource {
  fetchBlob(origin: BlobOrigin, digest: Digest, options: EdgeFetchOptions): Promise<EdgeAnswer>;
  /** The blob's size from the edge's HEAD (no blob bytes move), or undefined when it has none. */
  headBlob(origin: BlobOrigin, digest: Digest, signal: AbortSignal): Promise<number | undefined>;
}

export interface HttpEdgeSourceOptions {
  edgeUrl: string;
  peerId: string;
  /** The sidecar's current edge credential, if it enrolled. */
  token?: () => string | undefined;
  fetch?: typeof fetch;
}

/** Waits before each retry of a request that got no answer (a reset or reused-and-closed connection). */
const RETRY_DELAYS_MS = [250, 1_000];

/**
 * `GET|HEAD <edge>/v2/<name>/blobs/<digest>[?ns=]` with `X-FastReg-Peer`, so the edge never sends
 * the sidecar to a sidecar's HTTP bridge. Redirects are not followed: a `307` with X-FastReg-Filler
 * names the site's filler, to stream from over P2P; any other redirect (e.g. to a CDN) is followed
 * by hand.
 */
export class HttpEdgeSource implements EdgeBlobSource {
  constructor(private readonly options: HttpEdgeSourceOptions) {}

  async fetchBlob(origin: BlobOrigin, digest: Digest, options: EdgeFetchOptions): Promise<EdgeAnswer> {
    const headers = this.headers();
    headers.Accept = 'application/octet-stream';
    if (options.offset) headers.Range = `bytes=${options.offset}-`;
    if (options.fillerFailed) headers[FILLER_FAILED_HEADER] = options.fillerFailed;
    let url = this.blobUrl(origin, digest);
    let response = await this.send(url, 'GET', headers, options.signal);
    for (let hop = 0; isRedirect(response.status) && hop < 5; hop++) {
      const filler = response.headers.get(FILLER_HEADER);
      const location = response.headers.get('Location');
      await response.body?.cancel();
      if (filler) {
        const addrs = (response.headers.get(FILLER_ADDRS_HEADER) ?? '').split(',').map((addr) => addr.trim()).filter(Boolean);
        return { kind: 'filler', peerId: filler, multiaddrs: addrs };
      }
      if (!location) throw new OciError('UPSTREAM_FAILED', `edge answered ${response.status} without Location for ${digest.value}`);
      const next = new URL(location, url);
      // Credentials go to the edge only, never to wherever it redirects.
      if (next.origin !== url.origin) delete headers.Authorization;
      url = next;
      response = await this.send(url, 'GET', headers, options.signal);
    }
    // A refusal is about this repository: the caller may ask again for another one.
    if (response.status >= 400 && response.status < 500 && response.status !== 416) {
      await response.body?.cancel();
      return { kind: 'missing', status: response.status };
    }
    if ((response.status !== 200 && response.status !== 206) || !response.body) {
      await response.body?.cancel();
      throw new OciError('UPSTREAM_FAILED', `edge answered ${response.status} for ${digest.value}`);
    }
    const body = response.body as unknown as AsyncIterable<Uint8Array>;
    if (response.status === 206) {
      const range = /^bytes (\d+)-\d+\/(\d+)$/.exec(response.headers.get('Content-Range') ?? '');
      if (!range) {
        await response.body.cancel();
        throw new OciError('UPSTREAM_FAILED', `edge answered 206 without a usable Content-Range for ${digest.value}`);
      }
      return { kind: 'blob', body, offset: Number(range[1]), size: Number(range[2]) };
    }
    return { kind: 'blob', body, offset: 0, size: contentLength(response) };
  }

  async headBlob(origin: BlobOrigin, digest: Digest, signal: AbortSignal): Promise<number | undefined> {
    const response = await this.send(this.blobUrl(origin, digest), 'HEAD', this.headers(), signal);
    await response.body?.cancel();
    if (response.status === 404) return undefined;
    if (!response.ok) throw new OciError('UPSTREAM_FAILED', `edge answered HEAD with ${response.status} for ${digest.value}`);
    return contentLength(response);
  }

  private blobUrl(origin: BlobOrigin, digest: Digest): URL {
    const url = new URL(`/v2/${origin.name}/blobs/${digest.value}`, this.options.edgeUrl);
    if (origin.ns) url.searchParams.set('ns', origin.ns);
    return url;
  }

  private headers(): Record<string, string> {
    const headers: Record<string, string> = { [PEER_HEADER]: this.options.peerId };
    const token = this.options.token?.();
    if (token) headers.Authorization = `Bearer ${token}`;
    return headers;
  }

  /** A GET or HEAD is safe to repeat: one that failed before any answer is retried twice. */
  private async send(url: URL, method: 'GET' | 'HEAD', headers: Record<string, string>, signal: AbortSignal): Promise<Response> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await (this.options.fetch ?? fetch)(url, { method, headers, signal, redirect: 'manual' });
      } catch (err) {
        const name = (err as Error | undefined)?.name;
        const timedOut = signal.aborted || name === 'TimeoutError' || name === 'AbortError';
        const delay = RETRY_DELAYS_MS[attempt];
        if (!timedOut && delay !== undefined) {
          await sleep(delay, undefined, { signal }).catch(() => undefined);
          continue;
        }
        const cause = (err as { cause?: { code?: string; message?: string } }).cause;
        const reason = timedOut ? 'no answer in time' : (cause?.code ?? cause?.message ?? (err as Error).message);
        throw new OciError(timedOut ? 'UPSTREAM_TIMEOUT' : 'UPSTREAM_FAILED', `edge unreachable: ${reason}${timedOut ? '' : ` (${attempt + 1} attempts)`}`, { cause: err });
      }
    }
  }
}

function isRedirect(status: number): boolean {
  return status === 301 || status === 302 || status === 303 || status === 307 || status === 308;
}

function contentLength(response: Response): number | undefined {
  if (!response.headers.has('Content-Length')) return undefined;
  const length = Number(response.headers.get('Content-Length'));
  return Number.isSafeInteger(length) && length >= 0 ? length : undefined;
}
