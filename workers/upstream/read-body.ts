import { OciError } from '../shared/oci/index.js';
import type { UpstreamResponse } from './client.js';
import { upstreamTimeout } from './errors.js';
import { IdleWatchdog } from './idle-watchdog.js';

/** Reads a small upstream body (manifests, tag lists) with a size cap and a stall timeout. */
export async function readSmallBody(upstream: UpstreamResponse, registry: string, maxBytes: number, idleTimeoutMs: number): Promise<Uint8Array> {
  const { response } = upstream;
  const declared = Number(response.headers.get('Content-Length') ?? NaN);
  if (declared > maxBytes) {
    upstream.abort(new OciError('UPSTREAM_FAILED', `upstream ${registry} sent a body over ${maxBytes} bytes`));
    throw new OciError('UPSTREAM_FAILED', `upstream ${registry} sent a body over ${maxBytes} bytes`);
  }
  if (!response.body) return new Uint8Array(0);
  const watchdog = new IdleWatchdog(idleTimeoutMs, () => upstream.abort(upstreamTimeout(registry, 'body')));
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      watchdog.touch();
      total += value.byteLength;
      if (total > maxBytes) {
        await reader.cancel();
        throw new OciError('UPSTREAM_FAILED', `upstream ${registry} sent a body over ${maxBytes} bytes`);
      }
      chunks.push(value);
    }
  } catch (err) {
    if (err instanceof OciError) throw err;
    if (upstream.signal.aborted && upstream.signal.reason instanceof OciError) throw upstream.signal.reason;
    throw new OciError('UPSTREAM_FAILED', `upstream ${registry} broke off the response`, { cause: err });
  } finally {
    watchdog.stop();
  }
  const body = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    body.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return body;
}
