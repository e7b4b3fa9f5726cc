import { BlobCopy, copy } from './blob-copy.js';
import type { Sidecar } from './sidecar.js';
import type { Host, World } from './world.js';

// The edge (workers/cache/blob-service.ts, durable-objects/site-fill.ts): a GET takes the blob's
// BlobLease; the first one holds it and fetches from the upstream into R2 as pieces, announcing each;
// every reader, the holder's included, streams the announced pieces (one piece behind the fill).
// A sidecar's GET first claims its site's SiteFill: the first claimant is served, the others get
// the filler to stream from.

const MiB = 1024 * 1024;
/** workers/cache/pieces.ts pieceBytesFor: about 16 pieces, at least BLOB_PIECE_BYTES, at most 64 MiB. */
export function pieceBytesFor(size: number, minimum: number): number {
  return Math.max(minimum, Math.min(64 * MiB, Math.ceil(size / 16 / MiB) * MiB));
}

export class Edge {
  /** The lease holder's fill of each layer, once started. */
  private readonly fills = new Map<number, BlobCopy>();
  /** SiteFill claims: `site/layer` → filler. */
  private readonly claims = new Map<string, Sidecar>();

  constructor(private readonly world: World) {}

  /** The site's filler for `layer`: `sidecar` itself when it gets the claim (or replaces a filler it could not stream from). */
  claim(sidecar: Sidecar, layer: number, fillerFailed: boolean): Sidecar {
    const key = `${sidecar.host.site.index}/${layer}`;
    const filler = fillerFailed ? sidecar : (this.claims.get(key) ?? sidecar);
    this.claims.set(key, filler);
    return filler;
  }

  /** A GET of `layer` from `host` (its client, or its sidecar), streamed into `into`. */
  serve(layer: number, host: Host, client: boolean, into: BlobCopy, done: () => void): void {
    const { sim, inputs } = this.world;
    sim.after(inputs.edge.leaseSeconds, () => {
      const fill = this.fillOf(layer);
      this.world.edgeBytes += into.size;
      host.site.fromEdge += into.size;
      const cap = Math.min(inputs.edge.perRequestBytesPerSec, client ? this.world.clientCap() : Infinity);
      copy(sim, fill, into, { uses: this.world.edgeUses(host, client), cap, done });
    });
  }

  private fillOf(layer: number): BlobCopy {
    const existing = this.fills.get(layer);
    if (existing) return existing;
    const { sim, inputs } = this.world;
    const size = inputs.layers[layer]!;
    const fill = new BlobCopy(size, pieceBytesFor(size, inputs.edge.pieceMinBytes), sim.now);
    this.fills.set(layer, fill);
    this.world.upstreamBytes += size;
    const upstream = new BlobCopy(size, size, sim.now);
    upstream.arrived(size);
    sim.after(inputs.upstream.rttSeconds, () => copy(sim, upstream, fill, { uses: this.world.fillUses(layer), cap: Infinity, done: () => undefined }));
    return fill;
  }
}
