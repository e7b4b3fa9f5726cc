import type { BlobLeaseClient } from '../../durable-objects/blob-lease-client.js';
import type { FillProgress } from '../../durable-objects/blob-lease-types.js';
import { type Digest, OciError } from '../shared/oci/index.js';
import { stats, upstreamStats } from '../metrics/stats.js';
import { upstreamTimeout } from '../upstream/errors.js';
import { BodyStallWatchdog } from '../upstream/body-stall-watchdog.js';
import { pullScope, type SelectedUpstream } from '../upstream/select.js';
import { createHasher, type Hasher, lumpReader } from './hashing.js';
import { blobKey } from './keys.js';
import { writePieces } from './piece-writer.js';
import { deletePieces, pieceBytesFor, pieceKey, pieceLength, type PieceLayout, putPieceIndex } from './pieces.js';

export interface BlobFillOptions {
  bucket: R2Bucket;
  upstream: SelectedUpstream;
  digest: Digest;
  leases: BlobLeaseClient;
  leaseId: string;
  /** The fill a previous holder left (a takeover), if any. */
  previous?: FillProgress;
  /** BLOB_PIECE_BYTES: the smallest piece (see pieceBytesFor). */
  pieceBytes: number;
  waitUntil: (promise: Promise<unknown>) => void;
  /** Names the registry and repository in failures handed to waiters (see LeaseFailure.scope). */
  scope: string;
  /** Called once the fill settled, stored or not. */
  onSettled?: () => void;
}

/**
 * The upstream fetch of a blob by its lease holder. Resolves with the fill's shape once the upstream
 * answered and the lease recorded it (readers can start their responses); the bytes then go to R2
 * piece by piece in the background (waitUntil), so the store finishes even if every client left.
 *
 * A takeover continues a previous holder's fill: it re-hashes the pieces already stored and asks the
 * upstream for the rest with a Range (or skips what it has if the upstream ignores the Range).
 * Wrong bytes delete every piece and tell the lease to discard the fill; any other failure keeps the
 * stored pieces for the next holder. Rejects (after releasing the lease) if the fill cannot start.
 */
export async function startBlobFill(options: BlobFillOptions): Promise<FillProgress> {
  const { bucket, upstream, digest, leases, leaseId } = options;
  const key = digest.value;
  const heartbeat = leases.heartbeat(key, leaseId);
  let watchdog: BodyStallWatchdog | undefined;
  const settle = () => {
    heartbeat.stop();
    watchdog?.stop();
    options.onSettled?.();
  };
  try {
    const hasher = createHasher(digest);
    const resumeFrom = options.previous ? await rehashPieces(bucket, digest, options.previous, hasher) : 0;
    const offset = resumeFrom * (options.previous?.pieceBytes ?? 0);
    const fetched = await upstream.client.request({
      method: 'GET',
      path: `/v2/${upstream.repository}/blobs/${digest.value}`,
      scope: pullScope(upstream.repository),
      range: offset > 0 ? `bytes=${offset}-` : undefined,
      notFound: 'BLOB_UNKNOWN',
      what: `blob ${digest.value} of ${upstream.repository}`,
    });
    const { response } = fetched;
    const answer = bodyShape(response, offset);
    if (!response.body || answer === undefined) {
      fetched.abort(new Error('unusable answer'));
      throw new OciError('UPSTREAM_FAILED', `upstream ${upstream.registry} sent ${response.body ? 'no usable Content-Length or Content-Range' : 'no body'} for blob ${digest.value}`);
    }
    const pieceBytes = options.previous?.pieceBytes ?? pieceBytesFor(answer.size, options.pieceBytes);
    if (options.previous && options.previous.size !== answer.size) {
      fetched.abort(new Error('size changed'));
      throw new OciError('UPSTREAM_FAILED', `upstream ${upstream.registry} now says blob ${digest.value} has ${answer.size} bytes, not ${options.previous.size}`);
    }
    const fill = await leases.begin(key, leaseId, answer.size, pieceBytes);
    if ('kind' in fill) {
      fetched.abort(new Error('lease lost'));
      throw new OciError('UNAVAILABLE', `lost the lease of blob ${digest.value} before its fill began`);
    }
    const registryCounters = upstreamStats(upstream.registry);
    watchdog = new BodyStallWatchdog(upstream.client.timeoutMs, () => fetched.abort(upstreamTimeout(upstream.registry, 'body')));
    stats.blobs.misses += 1;
    const layout: PieceLayout = { size: fill.size, pieceBytes: fill.pieceBytes };
    const stored = writePieces(
      {
        bucket,
        digest,
        layout,
        startPiece: resumeFrom,
        skipBytes: answer.skip,
        hasher,
        onChunk: (bytes) => {
          watchdog?.touch();
          heartbeat.progress();
          registryCounters.bytes += bytes;
          stats.blobs.bytesFromUpstream += bytes;
        },
        onPieces: async (count) => {
          const renewed = await leases.announce(key, leaseId, count);
          if (renewed.kind === 'Lost') fetched.abort(new OciError('UNAVAILABLE', `lost the lease of blob ${digest.value} mid-fill`));
        },
      },
      response.body,
    );
    options.waitUntil(finishFill(options, layout, stored).finally(settle));
    return fill;
  } catch (err) {
    await leases.release(key, leaseId, err, { scope: options.scope }).catch(() => undefined);
    settle();
    throw err;
  }
}

/** Records the outcome of the piece writes with the lease: complete, or release (discarding wrong bytes). */
async function finishFill(options: BlobFillOptions, layout: PieceLayout, stored: Promise<void>): Promise<void> {
  const { bucket, digest, leases, leaseId } = options;
  try {
    await stored;
    await putPieceIndex(bucket, digest, layout);
    stats.blobs.stored += 1;
    await leases.complete(digest.value, leaseId, { size: layout.size, location: blobKey(digest) });
  } catch (err) {
    stats.blobs.storeFailures += 1;
    const wrongBytes = err instanceof OciError && err.code === 'DIGEST_INVALID';
    if (wrongBytes) {
      stats.blobs.digestMismatches += 1;
      await deletePieces(bucket, digest, layout).catch(() => undefined);
    }
    console.warn(`blob ${digest.value} from ${options.upstream.registry} was not stored: ${err instanceof Error ? err.message : String(err)}`);
    await leases.release(digest.value, leaseId, err, { scope: options.scope, discard: wrongBytes }).catch(() => undefined);
  }
}

/** The blob's size and how many leading bytes to skip, from a 200 or a 206 to `bytes=offset-`; undefined if unusable. */
function bodyShape(response: Response, offset: number): { size: number; skip: number } | undefined {
  if (response.status === 206) {
    const match = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(response.headers.get('Content-Range') ?? '');
    if (!match || Number(match[1]) !== offset) return undefined;
    return { size: Number(match[3]), skip: 0 };
  }
  const length = response.headers.get('Content-Length');
  if (length === null || !/^\d+$/.test(length)) return undefined;
  return { size: Number(length), skip: offset };
}

/**
 * Feeds the pieces a previous holder stored to `hasher`, in order; returns how many were there whole.
 * They are re-read rather than trusted: the final digest covers them too.
 */
async function rehashPieces(bucket: R2Bucket, digest: Digest, previous: FillProgress, hasher: Hasher): Promise<number> {
  const layout = { size: previous.size, pieceBytes: previous.pieceBytes };
  for (let index = 0; index < previous.pieces; index++) {
    const object = await bucket.get(pieceKey(digest, index));
    if (!object || object.size !== pieceLength(layout, index)) {
      await object?.body.cancel();
      return index;
    }
    const reader = lumpReader(object.body, 64 * 1024, 1024 * 1024);
    for (let lump = await reader.read(); lump !== undefined; lump = await reader.read()) await hasher.write(lump);
  }
  return previous.pieces;
}
