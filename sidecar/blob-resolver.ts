// The sidecar's one blob service (distribution's proxy blob store, spegel's BlobSource): where a
// blob comes from, in order: the local store or a fill already running, verified DHT providers,
// the edge (which may point at the site's filler instead). It hands out streams that follow the
// fill as it grows (sidecar/fill/blob-fill.ts); one fill per digest serves every concurrent reader.
import type { PeerId } from '@libp2p/interface';
import { peerIdFromString } from '@libp2p/peer-id';
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr';
import { OciError, type Digest } from '../workers/shared/oci/index.js';
import type { BlobOrigin, EdgeBlobSource } from './edge/edge-source.js';
import { BlobFill, FillRegistry } from './fill/blob-fill.js';
import { FillOrigins } from './fill/fill-origins.js';
import { LocalBlobs, type ByteRange } from './fill/local-blobs.js';
import type { SidecarHooks } from './hooks.js';
import type { SidecarMetrics } from './metrics.js';
import type { SidecarLibp2p } from './node/create-node.js';
import type { DhtRouter } from './node/routing.js';
import { fetchFromPeer } from './p2p/blob-client.js';
import { PeerBusyError, PeerLacksBlobError, PeerMisbehavedError } from './errors.js';
import type { PenaltyBox } from './p2p/penalty-box.js';
import type { BlobInfo, BlobStore } from './store/blob-store.js';

export type BlobSourceName = 'local' | 'p2p' | 'edge';

/** A blob as the HTTP layer needs it: its size (when known), where it came from, and its bytes. */
export interface BlobStream {
  digest: Digest;
  size: number | undefined;
  source: BlobSourceName;
  /** The bytes of `range` (the whole blob by default) as they arrive; throws if the fill fails. */
  read(range: ByteRange, signal: AbortSignal): AsyncIterable<Uint8Array>;
}

export interface ResolverDeps {
  node: SidecarLibp2p;
  router: DhtRouter;
  store: BlobStore;
  penalties: PenaltyBox;
  metrics: SidecarMetrics;
  hooks: SidecarHooks;
  edge?: EdgeBlobSource;
  /** See PEER_IDLE_TIMEOUT_MS. */
  idleTimeoutMs: number;
  log: (message: string) => void;
  signal: AbortSignal;
}

interface Candidate {
  id: PeerId;
  multiaddrs: Multiaddr[];
}

const PROVIDER_LOOKUP_MS = 3_000;
const PROVIDER_SETTLE_MS = 100;
const LOOKUP_ROUNDS = 3;
/** Peers one fill may try, pointers from busy peers included: bounds a walk down the fan-out tree. */
const MAX_PEER_ATTEMPTS = 32;
/** Edge requests one fill may make: the first, one after the filler it named failed, one after a cut body. */
const EDGE_ROUNDS = 3;
const FETCH_TIMEOUT_MS = 30 * 60_000;

export class BlobResolver {
  readonly fills = new FillRegistry();
  readonly local: LocalBlobs;
  /** Fills whose temp file is being created: a second request in that moment joins, not duplicates. */
  private readonly starting = new Map<string, { origins: FillOrigins; fill: Promise<BlobFill> }>();

  constructor(private readonly deps: ResolverDeps) {
    this.local = new LocalBlobs(deps.store, this.fills);
  }

  /**
   * A stream of the blob, starting a fill if nobody has started one. Resolves once the size is
   * known (the first source answered), not when the blob is complete. A digest names the same
   * bytes in every registry, so one fill serves all callers; the edge is asked for each caller's
   * origin in turn (fill-origins.ts), so one repository's refusal never fails another's pull.
   */
  async open(digest: Digest, origin: BlobOrigin | undefined, signal: AbortSignal): Promise<BlobStream> {
    for (let attempt = 1; ; attempt++) {
      const stored = await this.local.stored(digest);
      if (stored) return { digest, ...stored };
      const { fill, heard } = this.join(digest, origin);
      try {
        const running = await fill;
        const size = await running.sized(signal);
        return { digest, size, source: running.source, read: (range, readSignal) => running.read(range, readSignal) };
      } catch (err) {
        // Each caller hears the edge's answer for its own origin, never another origin's.
        const refused = (await fill.catch(() => undefined))?.origins.refusal(origin);
        if (refused !== undefined) throw edgeRefusal(refused, digest, origin as BlobOrigin);
        // The fill failed without asking the edge for this caller's origin: try once for itself.
        if (heard || attempt > 1 || signal.aborted) throw err;
      }
    }
  }

  /** Size and source without moving blob bytes: the store, a running fill, else the edge's HEAD. */
  async stat(digest: Digest, origin: BlobOrigin | undefined, signal: AbortSignal): Promise<{ size: number | undefined; source: BlobSourceName }> {
    const local = await this.local.find(digest, signal);
    if (local) return { size: local.size, source: local.source };
    if (this.deps.edge && origin) {
      const size = await this.deps.edge.headBlob(origin, digest, AbortSignal.any([signal, this.deps.signal]));
      if (size !== undefined) return { size, source: 'edge' };
    }
    throw new OciError('BLOB_UNKNOWN', `blob ${digest.value} is not held here${this.deps.edge && origin ? ' or by the edge' : ''}`);
  }

  /** Stores a pushed blob (verified; kept as is when already held) and announces it. */
  async accept(body: AsyncIterable<Uint8Array>, digest: Digest, options: { expectedSize?: number }): Promise<{ info: BlobInfo; created: boolean }> {
    const existing = await this.deps.store.stat(digest);
    const info = existing ?? (await this.deps.store.put(body, digest, options));
    void this.announce(digest);
    return { info, created: existing === undefined };
  }

  /** Announces a blob held (or being filled from the edge); failures are logged, the blob is still served. */
  async announce(digest: Digest): Promise<void> {
    try {
      await this.deps.router.provide(digest, this.deps.signal);
    } catch (err) {
      if (!this.deps.signal.aborted) this.deps.log(`provide ${digest.value} failed: ${(err as Error).message}`);
    }
  }

  /** The running fill of the digest, else a new one; the caller's origin is added at once, before the fill can fail. */
  private join(digest: Digest, origin: BlobOrigin | undefined): { fill: Promise<BlobFill>; heard: boolean } {
    const running = this.fills.get(digest);
    if (running) return { fill: Promise.resolve(running), heard: running.origins.add(origin) };
    let start = this.starting.get(digest.value);
    if (!start) {
      const origins = new FillOrigins();
      const fill = (async () => {
        const fill = new BlobFill(digest, await this.deps.store.beginWrite(digest), origins);
        this.fills.add(fill);
        void this.drive(fill);
        return fill;
      })().finally(() => this.starting.delete(digest.value));
      start = { origins, fill };
      this.starting.set(digest.value, start);
    }
    return { fill: start.fill, heard: start.origins.add(origin) };
  }

  /** Runs one fill to its end, whoever is still reading: the store keeps the blob for the next client. */
  private async drive(fill: BlobFill): Promise<void> {
    const signal = AbortSignal.any([this.deps.signal, AbortSignal.timeout(FETCH_TIMEOUT_MS)]);
    const contributors = new Set<string>();
    try {
      let complete = await this.fillFromPeers(fill, [], { lookup: true, contributors, signal });
      if (!complete) complete = await this.fillFromEdge(fill, contributors, signal);
      if (!complete) {
        throw new OciError('BLOB_UNKNOWN', `blob ${fill.digest.value} is not held here, by any reachable peer${this.deps.edge && fill.origins.size > 0 ? ', or by the edge' : ''}`);
      }
      try {
        await fill.complete();
      } catch (err) {
        if (err instanceof OciError && (err.code === 'DIGEST_INVALID' || err.code === 'SIZE_INVALID')) {
          this.deps.metrics.digestFailures.inc();
          for (const contributor of contributors) this.penalize(contributor, err.message);
        }
        throw err;
      }
      this.deps.metrics.blobFetches.inc({ source: fill.source });
      void this.announce(fill.digest);
    } catch (err) {
      if (!(err instanceof OciError && err.code === 'BLOB_UNKNOWN') && !this.deps.signal.aborted) {
        this.deps.log(`fill of ${fill.digest.value} failed at ${fill.written} bytes: ${(err as Error).message}`);
      }
      fill.fail(err);
    } finally {
      this.fills.delete(fill);
    }
  }

  /**
   * Tries peers in turn: `initial` ones first, then (with `lookup`) DHT providers. A cut transfer
   * continues at its offset with the next peer; a busy peer's pointers are tried next (the fan-out
   * tree). Returns true once the fill has every byte.
   */
  private async fillFromPeers(
    fill: BlobFill,
    initial: Candidate[],
    options: { lookup: boolean; contributors: Set<string>; signal: AbortSignal },
  ): Promise<boolean> {
    const { signal, contributors } = options;
    const self = this.deps.node.peerId.toString();
    const tried = new Set<string>();
    const queue = [...initial];
    let lookups = 0;
    for (let attempts = 0; attempts < MAX_PEER_ATTEMPTS; ) {
      if (queue.length === 0) {
        if (!options.lookup || lookups >= LOOKUP_ROUNDS) return false;
        // The first lookup returns soon after a provider answers; later rounds run the full query
        // for providers not tried yet (the first answer may have listed only some of them).
        const providers = await this.deps.router.findProviders(fill.digest, {
          timeoutMs: PROVIDER_LOOKUP_MS,
          settleMs: lookups === 0 ? PROVIDER_SETTLE_MS : undefined,
          signal,
        });
        lookups += 1;
        const fresh = providers.filter((p) => !tried.has(p.id.toString()) && !this.deps.penalties.isPenalized(p.id.toString()));
        // The quick first answer may list only peers we must skip; then ask again in full.
        if (fresh.length === 0 && (lookups > 1 || providers.length === 0)) return false;
        queue.push(...fresh.map((p) => ({ id: p.id, multiaddrs: p.multiaddrs })));
        continue;
      }
      const candidate = queue.shift() as Candidate;
      const peer = candidate.id.toString();
      if (peer === self || tried.has(peer) || this.deps.penalties.isPenalized(peer)) continue;
      tried.add(peer);
      attempts += 1;
      if (fill.written > 0) this.deps.metrics.resumes.inc();
      const before = fill.written;
      try {
        await this.addAddresses(candidate.id, candidate.multiaddrs);
        await fetchFromPeer(this.deps.node, candidate.id, fill, { ...this.deps, signal });
        contributors.add(peer);
        fill.source = 'p2p';
        return true;
      } catch (err) {
        if (fill.written > before) contributors.add(peer);
        if (err instanceof PeerBusyError) {
          this.deps.metrics.p2pRedirects.inc();
          queue.unshift(...err.peers.flatMap((pointer) => toCandidate(pointer.id, pointer.addrs)));
        } else if (err instanceof PeerMisbehavedError) this.penalize(peer, err.message);
        else if (!(err instanceof PeerLacksBlobError)) this.deps.log(`fetch ${fill.digest.value} from ${peer} stopped at ${fill.written} bytes: ${(err as Error).message}`);
        if (signal.aborted) throw err;
      }
    }
    return false;
  }

  /**
   * The edge, asked for each origin of the fill in turn until one is served: a refusal (404 or
   * another 4xx) concerns that repository only, and is recorded for its callers.
   */
  private async fillFromEdge(fill: BlobFill, contributors: Set<string>, signal: AbortSignal): Promise<boolean> {
    const edge = this.deps.edge;
    if (!edge) return false;
    for (let origin = fill.origins.next(); origin; origin = fill.origins.next()) {
      const status = await this.fillFromEdgeAs(edge, fill, origin, contributors, signal);
      if (status === undefined) return true;
      fill.origins.refuse(origin, status);
    }
    return false;
  }

  /**
   * The edge for one origin: it serves the blob (this sidecar is its site's filler, so it is
   * announced now, while it fills), or points at the site's filler, streamed over P2P; if that
   * fails, the edge is asked again and told so, and serves the blob itself. A partial fill
   * continues with a Range. Returns undefined once the fill has every byte, else the refusal's status.
   */
  private async fillFromEdgeAs(edge: EdgeBlobSource, fill: BlobFill, origin: BlobOrigin, contributors: Set<string>, signal: AbortSignal): Promise<number | undefined> {
    let fillerFailed: string | undefined;
    for (let round = 0; round < EDGE_ROUNDS; round++) {
      const answer = await edge.fetchBlob(origin, fill.digest, { offset: fill.written, fillerFailed, signal });
      if (answer.kind === 'missing') return answer.status;
      if (answer.kind === 'filler') {
        const filler = toCandidate(answer.peerId, answer.multiaddrs);
        if (await this.fillFromPeers(fill, filler, { lookup: false, contributors, signal })) return undefined;
        fillerFailed = answer.peerId;
        continue;
      }
      if (answer.offset > fill.written) {
        await (answer.body as { cancel?: () => Promise<void> }).cancel?.();
        throw new OciError('UPSTREAM_FAILED', `edge answered from byte ${answer.offset}, asked ${fill.written}`);
      }
      fill.source = 'edge';
      if (answer.size !== undefined) await fill.setSize(answer.size);
      if (fill.written === 0) void this.announce(fill.digest);
      const before = fill.written;
      try {
        let position = answer.offset;
        for await (const chunk of answer.body) {
          // A 200 to a Range request starts at 0: skip what the fill already has.
          const skip = Math.min(chunk.byteLength, Math.max(0, fill.written - position));
          position += chunk.byteLength;
          if (skip < chunk.byteLength) await fill.write(skip === 0 ? chunk : chunk.subarray(skip));
        }
      } catch (err) {
        // A body cut after some progress continues with a Range, so that followers are not cut too.
        if (signal.aborted || isVerdict(err) || fill.written === before || round === EDGE_ROUNDS - 1) throw err;
        this.deps.log(`edge body of ${fill.digest.value} cut at ${fill.written} bytes, continuing with a Range: ${(err as Error).message}`);
        continue;
      }
      return undefined;
    }
    return 404;
  }

  private penalize(peer: PeerId | string, reason: string): void {
    this.deps.log(`penalizing ${peer}: ${reason}`);
    this.deps.penalties.penalize(peer.toString());
  }

  private async addAddresses(peer: PeerId, multiaddrs: Multiaddr[]): Promise<void> {
    if (multiaddrs.length === 0) return;
    try {
      await this.deps.node.peerStore.merge(peer, { multiaddrs });
    } catch {
      // the peer store may already know better addresses
    }
  }
}

/** A peer named by the edge or by a busy peer; nothing when its ID or addresses do not parse. */
function toCandidate(id: string, addrs: string[]): Candidate[] {
  try {
    return [{ id: peerIdFromString(id), multiaddrs: addrs.flatMap(parseMultiaddr) }];
  } catch {
    return [];
  }
}

function parseMultiaddr(text: string): Multiaddr[] {
  try {
    return [multiaddr(text)];
  } catch {
    return [];
  }
}

/** What the edge's refusal of one origin means to that origin's callers. */
function edgeRefusal(status: number, digest: Digest, origin: BlobOrigin): OciError {
  const where = `${origin.ns ? `${origin.ns}/` : ''}${origin.name}`;
  if (status === 404) return new OciError('BLOB_UNKNOWN', `blob ${digest.value} is not held here, by any reachable peer, or by the edge for ${where}`);
  return new OciError('UPSTREAM_FAILED', `edge answered ${status} for ${digest.value} in ${where}`);
}

/** Errors that a retry of the same bytes cannot fix (too many bytes, a size that disagrees). */
function isVerdict(err: unknown): boolean {
  return err instanceof OciError && (err.code === 'SIZE_INVALID' || err.code === 'DIGEST_INVALID');
}
