// What this sidecar can serve right now without fetching: a stored blob, or one that is filling.
import type { Digest } from '../../workers/shared/oci/index.js';
import type { BlobStore } from '../store/blob-store.js';
import type { FillRegistry, FillSource } from './blob-fill.js';

export interface ByteRange {
  offset?: number;
  length?: number;
}

export interface LocalBlob {
  /** Undefined only for a fill whose source did not say (an edge answer without Content-Length). */
  size: number | undefined;
  /** `local` when stored; else where the filling bytes come from. */
  source: 'local' | FillSource;
  /** The bytes of `range`, following a fill as it grows; errors if the fill fails. */
  read(range: ByteRange, signal: AbortSignal): AsyncIterable<Uint8Array>;
}

export class LocalBlobs {
  constructor(
    private readonly store: BlobStore,
    readonly fills: FillRegistry,
  ) {}

  /** The stored blob, else the filling one once its size is known (throws if that fill fails first). */
  async find(digest: Digest, signal: AbortSignal): Promise<LocalBlob | undefined> {
    const stored = await this.stored(digest);
    if (stored) return stored;
    const fill = this.fills.get(digest);
    if (!fill) return undefined;
    const size = await fill.sized(signal);
    return { size, source: fill.source, read: (range, readSignal) => fill.read(range, readSignal) };
  }

  /** The blob when the store holds it whole. */
  async stored(digest: Digest): Promise<LocalBlob | undefined> {
    const info = await this.store.stat(digest);
    if (!info) return undefined;
    const store = this.store;
    return {
      size: info.size,
      source: 'local',
      read: (range) =>
        (async function* () {
          yield* await store.open(digest, range);
        })(),
    };
  }
}
