import { OciError } from '../shared/oci/index.js';
import type { UpstreamResponse } from './client.js';
import { upstreamTimeout } from './errors.js';
import { BodyStallWatchdog } from './body-stall-watchdog.js';
import { readBounded } from '../shared/http/read-bounded.js';

/** Reads a small upstream body (manifests, tag lists) with a size cap and a stall timeout. */
export async function readSmallBody(upstream: UpstreamResponse, registry: string, maxBytes: number, idleTimeoutMs: number): Promise<Uint8Array> {
  const { response } = upstream;
  const declared = Number(response.headers.get('Content-Length') ?? NaN);
  if (declared > maxBytes) {
    upstream.abort(new OciError('UPSTREAM_FAILED', `upstream ${registry} sent a body over ${maxBytes} bytes`));
    throw new OciError('UPSTREAM_FAILED', `upstream ${registry} sent a body over ${maxBytes} bytes`);
  }
  if (!response.body) return new Uint8Array(0);
  const watchdog = new BodyStallWatchdog(idleTimeoutMs, () => upstream.abort(upstreamTimeout(registry, 'body')));
  try {
    return await readBounded(response.body, maxBytes, {
      tooLarge: () => new OciError('UPSTREAM_FAILED', `upstream ${registry} sent a body over ${maxBytes} bytes`),
      onChunk: () => watchdog.touch(),
    });
  } catch (err) {
    if (err instanceof OciError) throw err;
    if (upstream.signal.aborted && upstream.signal.reason instanceof OciError) throw upstream.signal.reason;
    throw new OciError('UPSTREAM_FAILED', `upstream ${registry} broke off the response`, { cause: err });
  } finally {
    watchdog.stop();
  }
}
