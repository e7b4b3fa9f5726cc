// Where a blob comes from, in order: the local store, verified DHT providers, the edge. Then it is
// stored and provided. Concurrent requests for one digest share one fetch (single flight); the
// followers wait for it and then read the stored file, so memory stays bounded.
import type { PeerId } from '@libp2p/interface';
import { OciError, parseDigest } from '../workers/oci/index.js';
import type { BlobOrigin, EdgeBlobSource } from './edge/edge-source.js';
import type { SidecarHooks } from './hooks.js';
import type { SidecarMetrics } from './metrics.js';
import type { SidecarLibp2p } from './node/create-node.js';
import { cidForDigest, type DhtRouter } from './node/routing.js';
import { PeerLacksBlobError, PeerMisbehavedError, fetchFromPeer } from './p2p/blob-client.js';
import type { PenaltyBox } from './p2p/penalty-box.js';
import type { BlobInfo, BlobStore, BlobWriter } from './store/blob-store.js';

export type BlobSourceName = 'local' | 'p2p' | 'edge';

export interface ResolvedBlob extends BlobInfo {
  source: BlobSourceName;
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

const PROVIDER_LOOKUP_MS = 3_000;
const PROVIDER_SETTLE_MS = 100;
const LOOKUP_ROUNDS = 3;
const FETCH_TIMEOUT_MS = 30 * 60_000;

export class BlobResolver {
  private readonly inflight = new Map<string, Promise<ResolvedBlob>>();

  constructor(private readonly deps: ResolverDeps) {}

  /**
   * Makes sure the blob is in the local store, fetching it if needed. The edge is asked only when
   * the origin is known. A digest names the same bytes in every registry, so one fetch serves all.
   */
  async ensure(digest: string, origin?: BlobOrigin): Promise<ResolvedBlob> {
    const canonical = parseDigest(digest).value;
    const local = await this.deps.store.stat(canonical);
    if (local) return { ...local, source: 'local' };
    let pending = this.inflight.get(canonical);
    if (!pending) {
      pending = this.fetch(canonical, origin).finally(() => this.inflight.delete(canonical));
      this.inflight.set(canonical, pending);
    }
    return pending;
  }

  /** Announces a stored blob; failures are logged, the blob is still served. */
  async announce(digest: string): Promise<void> {
    try {
      await this.deps.router.provide(cidForDigest(digest), this.deps.signal);
    } catch (err) {
      this.deps.log(`provide ${digest} failed: ${(err as Error).message}`);
    }
  }

  private async fetch(digest: string, origin: BlobOrigin | undefined): Promise<ResolvedBlob> {
    const signal = AbortSignal.any([this.deps.signal, AbortSignal.timeout(FETCH_TIMEOUT_MS)]);
    const fromPeers = await this.fetchFromPeers(digest, signal);
    let result: ResolvedBlob | undefined = fromPeers;
    if (!result && this.deps.edge && origin) {
      const blob = await this.deps.edge.fetchBlob(origin, digest, signal);
      if (blob) {
        const info = await this.deps.store.put(blob.body, digest, { expectedSize: blob.size });
        result = { ...info, source: 'edge' };
      }
    }
    if (!result) {
      throw new OciError('BLOB_UNKNOWN', `blob ${digest} is not held here, by any reachable peer${this.deps.edge ? ', or by the edge' : ''}`);
    }
    this.deps.metrics.blobFetches.inc({ source: result.source });
    void this.announce(digest);
    return result;
  }

  /**
   * Tries providers in turn. A cut transfer continues at its offset with the next provider; a
   * digest mismatch penalizes every peer that contributed bytes and starts over from zero.
   */
  private async fetchFromPeers(digest: string, signal: AbortSignal): Promise<ResolvedBlob | undefined> {
    const tried = new Set<string>();
    let writer: BlobWriter | undefined;
    let contributors = new Set<string>();
    let size: number | undefined;
    try {
      // The first lookup returns soon after a provider answers; later rounds run the full query
      // for providers not tried yet (the first answer may have listed only some of them).
      for (let round = 0; round < LOOKUP_ROUNDS; round++) {
        const providers = await this.deps.router.findProviders(cidForDigest(digest), {
          timeoutMs: PROVIDER_LOOKUP_MS,
          settleMs: round === 0 ? PROVIDER_SETTLE_MS : undefined,
          signal,
        });
        const candidates = providers.filter((p) => !tried.has(p.id.toString()) && !this.deps.penalties.isPenalized(p.id.toString()));
        // The quick first answer may list only peers we must skip; then ask again in full.
        if (candidates.length === 0 && (round > 0 || providers.length === 0)) break;
        for (const provider of candidates) {
          const peer = provider.id;
          tried.add(peer.toString());
          if (this.deps.penalties.isPenalized(peer.toString())) continue;
          writer ??= await this.deps.store.beginWrite(digest);
          if (writer.written > 0) this.deps.metrics.resumes.inc();
          try {
            await this.addAddresses(peer, provider.multiaddrs);
            const result = await fetchFromPeer(this.deps.node, peer, writer, { ...this.deps, expectedSize: size, signal });
            size = result.size;
            contributors.add(peer.toString());
          } catch (err) {
            if (writer.written > 0) contributors.add(peer.toString());
            if (err instanceof PeerMisbehavedError) this.penalize(peer, err.message);
            else if (!(err instanceof PeerLacksBlobError)) this.deps.log(`fetch ${digest} from ${peer} stopped at ${writer.written} bytes: ${(err as Error).message}`);
            if (signal.aborted) throw err;
            continue;
          }
          const current = writer;
          writer = undefined;
          try {
            const info = await current.commit();
            return { ...info, source: 'p2p' };
          } catch (err) {
            if (!(err instanceof OciError) || (err.code !== 'DIGEST_INVALID' && err.code !== 'SIZE_INVALID')) throw err;
            this.deps.metrics.digestFailures.inc();
            for (const contributor of contributors) this.penalize(contributor, err.message);
            contributors = new Set();
            size = undefined;
          }
        }
      }
      return undefined;
    } finally {
      await writer?.abort();
    }
  }

  private penalize(peer: PeerId | string, reason: string): void {
    this.deps.log(`penalizing ${peer}: ${reason}`);
    this.deps.penalties.penalize(peer.toString());
  }

  private async addAddresses(peer: PeerId, multiaddrs: { toString(): string }[]): Promise<void> {
    if (multiaddrs.length === 0) return;
    try {
      await this.deps.node.peerStore.merge(peer, { multiaddrs: multiaddrs as never });
    } catch {
      // the peer store may already know better addresses
    }
  }
}
