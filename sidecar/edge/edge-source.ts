// The edge as the last blob source. A seam: the sidecar only needs "give me this blob's bytes".
import { setTimeout as sleep } from 'node:timers/promises';
import { OciError } from '../../workers/oci/index.js';

export interface EdgeBlob {
  body: AsyncIterable<Uint8Array>;
  size?: number;
}

/** Where a client asked for a blob: its repository, and the registry (`?ns=`) when not the edge's default. */
export interface BlobOrigin {
  name: string;
  ns?: string;
}

export interface EdgeBlobSource {
  /** The blob's bytes, or undefined when the edge does not have it and cannot get it. */
  fetchBlob(origin: BlobOrigin, digest: string, signal: AbortSignal): Promise<EdgeBlob | undefined>;
}

export interface HttpEdgeSourceOptions {
  edgeUrl: string;
  peerId: string;
  token?: string;
  fetch?: typeof fetch;
}

/** Waits before each retry of a request that got no answer (a reset or reused-and-closed connection). */
const RETRY_DELAYS_MS = [250, 1_000];

/** `GET <edge>/v2/<name>/blobs/<digest>[?ns=]` with `X-FastReg-Peer`, so the edge never redirects back to a sidecar. */
export class HttpEdgeSource implements EdgeBlobSource {
  constructor(private readonly options: HttpEdgeSourceOptions) {}

  async fetchBlob(origin: BlobOrigin, digest: string, signal: AbortSignal): Promise<EdgeBlob | undefined> {
    const url = new URL(`/v2/${origin.name}/blobs/${digest}`, this.options.edgeUrl);
    if (origin.ns) url.searchParams.set('ns', origin.ns);
    const headers: Record<string, string> = { 'X-FastReg-Peer': this.options.peerId, Accept: 'application/octet-stream' };
    if (this.options.token) headers.Authorization = `Bearer ${this.options.token}`;
    const response = await this.send(url, headers, signal);
    if (response.status === 404) {
      await response.body?.cancel();
      return undefined;
    }
    if (!response.ok || !response.body) {
      await response.body?.cancel();
      throw new OciError('UPSTREAM_FAILED', `edge answered ${response.status} for ${digest}`);
    }
    const length = Number(response.headers.get('Content-Length'));
    return {
      body: response.body as unknown as AsyncIterable<Uint8Array>,
      size: Number.isSafeInteger(length) && length >= 0 && response.headers.has('Content-Length') ? length : undefined,
    };
  }

  /** A GET is safe to repeat: one that failed before any answer is retried twice. */
  private async send(url: URL, headers: Record<string, string>, signal: AbortSignal): Promise<Response> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await (this.options.fetch ?? fetch)(url, { headers, signal, redirect: 'follow' });
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
