import { contentRange, type Digest, OciError, parseRange } from '../oci/index.js';
import { stats, upstreamStats } from '../stats.js';
import { upstreamTimeout } from '../upstream/errors.js';
import { IdleWatchdog } from '../upstream/idle-watchdog.js';
import { pullScope, type SelectedUpstream } from '../upstream/select.js';
import { blobHeaders } from './blob-store.js';
import { blobKey } from './keys.js';
import { storeVerifiedBlob } from './r2-blob-writer.js';
import { clientCopy, sliceStream } from './verify-stream.js';

export interface BlobFillOptions {
  bucket: R2Bucket;
  upstream: SelectedUpstream;
  digest: Digest;
  /** The client's Range header; the whole blob is still fetched and stored. */
  rangeHeader?: string | null;
  multipartThresholdBytes: number;
  multipartPartBytes: number;
  /** Called whenever bytes move towards R2; the blob lease is renewed only while they do. */
  onProgress?: () => void;
}

export type BlobStoreResult = { stored: true; size: number } | { stored: false; reason: string };

export interface BlobFill {
  /** For the client: 200 (206 for a Range), streamed while the blob is being stored. */
  response: Response;
  /** Settles when the R2 write is done or failed; never rejects. Hand it to waitUntil. */
  stored: Promise<BlobStoreResult>;
}

/**
 * The upstream-miss path for a blob: one upstream GET, its native body teed to the client and to
 * R2. The store branch hashes what it writes; the client branch holds back its last chunk for that
 * verdict. A blob whose digest does not match is never stored, and the client's stream errors
 * instead of ending. The caller keeps `stored` alive with
 * waitUntil, so the store completes even if the client disconnects.
 *
 * This is the seam for the blob lease: call it only when this request holds the lease.
 */
export async function fillBlobFromUpstream(options: BlobFillOptions): Promise<BlobFill> {
  const { upstream, digest, bucket } = options;
  const fetched = await upstream.client.request({
    method: 'GET',
    path: `/v2/${upstream.repository}/blobs/${digest.value}`,
    scope: pullScope(upstream.repository),
    notFound: 'BLOB_UNKNOWN',
    what: `blob ${digest.value} of ${upstream.repository}`,
  });
  const { response } = fetched;
  const lengthHeader = response.headers.get('Content-Length');
  const size = lengthHeader !== null && /^\d+$/.test(lengthHeader) ? Number(lengthHeader) : undefined;
  if (!response.body) {
    throw new OciError('UPSTREAM_FAILED', `upstream ${upstream.registry} sent no body for blob ${digest.value}`);
  }
  let range;
  try {
    range = size === undefined ? undefined : parseRange(options.rangeHeader, size);
  } catch (err) {
    fetched.abort(err);
    throw err;
  }
  stats.blobs.misses += 1;

  const watchdog = new IdleWatchdog(upstream.client.timeoutMs, () => fetched.abort(upstreamTimeout(upstream.registry, 'body')));
  // Tee the native body (a tee of a JS stream buffers without bound). Even the native tee keeps for the
  // slower branch what the faster one read ahead, so the client's copy stays within a few MiB of the store.
  const [toClient, toStore] = response.body.tee();

  // Each byte is hashed once, on the store side, in batches; the client's copy waits for that verdict
  // before its last chunk. The store side also feeds the watchdog, so a stall is caught with no client.
  let clientAttached = !range;
  const upstreamCounters = upstreamStats(upstream.registry);
  const store = storeVerifiedBlob(
    {
      bucket,
      key: blobKey(digest),
      digest,
      expectedSize: size,
      multipartThresholdBytes: options.multipartThresholdBytes,
      multipartPartBytes: options.multipartPartBytes,
      clientAttached: () => clientAttached,
      onChunk: (bytes: number) => {
        watchdog.touch();
        upstreamCounters.bytes += bytes;
        stats.blobs.bytesFromUpstream += bytes;
      },
      onProgress: () => options.onProgress?.(),
    },
    toStore,
  );
  const stored = store.stored.then(
    (written): BlobStoreResult => {
      stats.blobs.stored += 1;
      return { stored: true, size: written };
    },
    (err: unknown): BlobStoreResult => {
      stats.blobs.storeFailures += 1;
      if (err instanceof OciError && err.code === 'DIGEST_INVALID') stats.blobs.digestMismatches += 1;
      const reason = signalReason(fetched.signal) ?? (err instanceof Error ? err.message : String(err));
      console.warn(`blob ${digest.value} from ${upstream.registry} was not stored: ${reason}`);
      return { stored: false, reason };
    },
  );
  void Promise.allSettled([stored, store.finished]).then(() => watchdog.stop());

  if (range) {
    const headers = blobHeaders(digest, range.length, 'upstream');
    headers.set('Content-Range', contentRange(range, size ?? 0));
    const body = clientCopy(toClient, store, { verify: false })
      .pipeThrough(sliceStream(range.offset, range.length))
      .pipeThrough(new FixedLengthStream(range.length));
    return { response: new Response(body, { status: 206, headers }), stored };
  }
  const verified = clientCopy(toClient, store, {
    verify: true,
    onCancel: () => {
      clientAttached = false;
    },
  });
  if (size === undefined) {
    const headers = blobHeaders(digest, 0, 'upstream');
    headers.delete('Content-Length');
    return { response: new Response(verified, { headers }), stored };
  }
  return { response: new Response(verified.pipeThrough(new FixedLengthStream(size)), { headers: blobHeaders(digest, size, 'upstream') }), stored };
}

function signalReason(signal: AbortSignal): string | undefined {
  return signal.aborted && signal.reason instanceof Error ? signal.reason.message : undefined;
}
