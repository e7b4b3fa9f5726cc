import type { BlobLease } from '../../durable-objects/blob-lease.js';
import { BlobLeaseClient, isDefinitive, isDefinitiveFor } from '../../durable-objects/blob-lease-client.js';
import type { Granted, FillProgress } from '../../durable-objects/blob-lease-types.js';
import { COALESCE_MAX_ROUNDS } from '../../durable-objects/constants.js';
import type { EdgeConfig } from '../shared/edge-config.js';
import { leaseObserver } from '../metrics/leases.js';
import { type Digest, OciError, type OciErrorCode } from '../shared/oci/index.js';
import type { SelectedUpstream } from '../upstream/select.js';
import { startBlobFill } from './blob-fill.js';
import { headUpstreamBlob } from './blob-head.js';
import { type BlobSource, pieceResponse, serveStoredBlob } from './blob-store.js';
import { pieceCount } from './pieces.js';

export interface BlobServiceOptions {
  bucket: R2Bucket;
  leases: DurableObjectNamespace<BlobLease>;
  config: Pick<EdgeConfig, 'LEASE_TTL_MS' | 'BLOB_PIECE_BYTES'>;
  waitUntil: (promise: Promise<unknown>) => void;
}

export interface BlobRequest {
  upstream: SelectedUpstream;
  digest: Digest;
  method: 'GET' | 'HEAD';
  rangeHeader?: string;
}

/** The registry and repository a request is about: the scope of the upstream answers it may share. */
const scopeOf = (request: BlobRequest) => `${request.upstream.registry}/${request.upstream.repository}`;

/** Rounds a reader of a filling blob waits (each up to about one lease TTL) without a new piece before it gives up. */
const READER_IDLE_ROUNDS = 20;

/**
 * The edge's one blob service: stored → lease → fill → serve. A stored blob is served from R2. A cold
 * one is fetched from the upstream once, by the holder of the blob's lease, and written to R2 piece
 * by piece; every client, the holder's included, streams the pieces as they are stored, with the
 * right Content-Length from the start. The last piece is released only once the whole blob's digest
 * matched, so no stream of a wrong blob ends cleanly. A reader whose holder dies takes the lease over
 * and continues the fill where it stopped.
 */
export class BlobService {
  private readonly leases: BlobLeaseClient;
  private readonly observe = leaseObserver('blob');

  constructor(private readonly options: BlobServiceOptions) {
    this.leases = new BlobLeaseClient(options.leases, { ttlMs: options.config.LEASE_TTL_MS });
  }

  async serve(request: BlobRequest): Promise<Response> {
    const { digest, method, rangeHeader } = request;
    const stored = await serveStoredBlob(this.options.bucket, digest, method, rangeHeader);
    if (stored) return stored;
    if (method === 'HEAD') return headUpstreamBlob(request.upstream, digest);
    return this.serveCold(request);
  }

  private async serveCold(request: BlobRequest): Promise<Response> {
    const key = request.digest.value;
    let waited = false;
    for (let round = 0; round < COALESCE_MAX_ROUNDS; round++) {
      const answer = await this.leases.acquire(key);
      if (answer.kind === 'AlreadyStored') {
        const stored = await serveStoredBlob(this.options.bucket, request.digest, 'GET', request.rangeHeader);
        if (stored) return stored;
        await this.leases.forget(key, answer.location).catch(() => undefined);
        continue;
      }
      if (answer.kind === 'Granted') {
        this.observe('granted');
        if (waited) this.observe('takeover');
        return this.follow(request, await this.fill(request, answer), 'upstream');
      }
      if (!waited) this.observe('waited');
      waited = true;
      if (answer.fill) return this.follow(request, answer.fill, 'r2');
      const woke = await this.leases.waitFill(key, -1);
      if (woke.kind === 'Progress') return this.follow(request, woke.fill, 'r2');
      if (woke.kind === 'Free' && woke.reason === 'expired') this.observe('expired');
      // The holder got an answer that a retry would only repeat (e.g. 404): share it instead of re-asking,
      // but only with requests for the same repository; the others ask for themselves.
      if (woke.kind === 'Free' && isDefinitiveFor(woke.failure, scopeOf(request))) throw new OciError(woke.failure.code as OciErrorCode, woke.failure.message);
    }
    throw new OciError('UNAVAILABLE', `gave up waiting for the concurrent upstream fetch of ${key}; retry`, {
      headers: { 'Retry-After': String(Math.ceil(this.options.config.LEASE_TTL_MS / 1000)) },
    });
  }

  private fill(request: BlobRequest, granted: Granted): Promise<FillProgress> {
    return startBlobFill({
      bucket: this.options.bucket,
      upstream: request.upstream,
      digest: request.digest,
      leases: this.leases,
      leaseId: granted.leaseId,
      previous: granted.fill,
      pieceBytes: this.options.config.BLOB_PIECE_BYTES,
      waitUntil: this.options.waitUntil,
      scope: scopeOf(request),
      onSettled: () => this.observe('settled'),
    });
  }

  /** A response that streams the blob's pieces as the lease announces them; the last one only once verified. */
  private follow(request: BlobRequest, fill: FillProgress, source: BlobSource): Response {
    const key = request.digest.value;
    const layout = { size: fill.size, pieceBytes: fill.pieceBytes };
    const last = pieceCount(layout) - 1;
    let known = fill.pieces;
    let stored = false;
    const ready = async (index: number): Promise<void> => {
      for (let idle = 0; idle < READER_IDLE_ROUNDS; ) {
        if (stored || (index < known && index < last)) return;
        const woke = await this.leases.waitFill(key, known);
        if (woke.kind !== 'Timeout' && woke.generation !== fill.generation) {
          throw new OciError('DIGEST_INVALID', `the fetch of blob ${key} that this stream followed sent wrong bytes and was discarded`);
        }
        if (woke.kind === 'Stored') stored = true;
        else if (woke.kind === 'Progress') {
          if (woke.fill.size !== fill.size || woke.fill.pieceBytes !== fill.pieceBytes) {
            throw new OciError('UNAVAILABLE', `blob ${key} is being fetched again with another size; retry`);
          }
          if (woke.fill.pieces > known) idle = 0;
          else idle++;
          known = Math.max(known, woke.fill.pieces);
        } else if (woke.kind === 'Free') {
          // (A discarded fill moved the generation on: caught above.)
          if (isDefinitiveFor(woke.failure, scopeOf(request))) throw new OciError(woke.failure.code as OciErrorCode, woke.failure.message);
          idle++;
          await this.takeOver(request);
        } else idle++;
      }
      throw new OciError('UNAVAILABLE', `no progress on the fetch of blob ${key}; retry`);
    };
    return pieceResponse({ bucket: this.options.bucket, digest: request.digest, layout, method: 'GET', rangeHeader: request.rangeHeader, ready, source });
  }

  /** The holder went away: try to continue its fill. Transient failures are left to the next round. */
  private async takeOver(request: BlobRequest): Promise<void> {
    const answer = await this.leases.acquire(request.digest.value);
    // Stored or leased by another: the next waitFill says which generation it is.
    if (answer.kind !== 'Granted') return;
    this.observe('granted');
    this.observe('takeover');
    try {
      await this.fill(request, answer);
    } catch (err) {
      if (err instanceof OciError && isDefinitive({ code: err.code, message: err.message })) throw err;
    }
  }
}
