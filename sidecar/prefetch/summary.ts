import type { WarmedBlob } from './blob-warmer.js';

export interface Tally {
  blobs: number;
  bytes: number;
}

export interface PrefetchSummary extends Tally {
  elapsedMs: number;
  /** Decimal megabytes per second over the whole warm-up. */
  mbPerSecond: number;
  /** Per source: `sidecar/local`, `sidecar/p2p`, `sidecar/edge`, `edge/r2`, `edge/upstream`, … */
  sources: Record<string, Tally>;
  /** Per sidecar endpoint that now holds blobs. */
  sidecars: Record<string, Tally>;
  /** Blobs the edge served itself: no sidecar of this site was warmed with them. */
  notWarmed: Tally;
}

export function summarize(results: readonly WarmedBlob[], elapsedMs: number): PrefetchSummary {
  const summary: PrefetchSummary = { blobs: 0, bytes: 0, elapsedMs, mbPerSecond: 0, sources: {}, sidecars: {}, notWarmed: { blobs: 0, bytes: 0 } };
  const count = (tally: Tally, result: WarmedBlob) => {
    tally.blobs += 1;
    tally.bytes += result.bytes;
  };
  for (const result of results) {
    count(summary, result);
    count((summary.sources[result.source] ??= { blobs: 0, bytes: 0 }), result);
    if (result.sidecar) count((summary.sidecars[result.sidecar] ??= { blobs: 0, bytes: 0 }), result);
    else count(summary.notWarmed, result);
  }
  summary.mbPerSecond = elapsedMs > 0 ? Math.round((summary.bytes / 1e6 / (elapsedMs / 1000)) * 100) / 100 : 0;
  return summary;
}
