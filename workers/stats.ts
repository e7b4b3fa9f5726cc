// In-isolate counters for the pull path. Plain data so /stats can return it as JSON and a later
// /metrics exporter can read it. Counts are per isolate, not global across the edge.

export interface UpstreamStats {
  requests: number;
  errors: number;
  bytes: number;
  /** Last `ratelimit-remaining` the upstream reported (Docker Hub: pulls left in the window). */
  ratelimitRemaining?: number;
  ratelimitLimit?: number;
  ratelimitUpdatedAt?: string;
}

export interface EdgeStats {
  startedAt: string;
  manifests: { hits: number; misses: number; revalidated: number; refreshed: number; staleServed: number; coalesced: number };
  blobs: {
    hits: number;
    misses: number;
    bytesFromR2: number;
    bytesFromUpstream: number;
    stored: number;
    storeFailures: number;
    digestMismatches: number;
  };
  upstreams: Record<string, UpstreamStats>;
}

function emptyStats(): EdgeStats {
  return {
    startedAt: new Date().toISOString(),
    manifests: { hits: 0, misses: 0, revalidated: 0, refreshed: 0, staleServed: 0, coalesced: 0 },
    blobs: { hits: 0, misses: 0, bytesFromR2: 0, bytesFromUpstream: 0, stored: 0, storeFailures: 0, digestMismatches: 0 },
    upstreams: {},
  };
}

export const stats: EdgeStats = emptyStats();

export function upstreamStats(registry: string): UpstreamStats {
  let entry = stats.upstreams[registry];
  if (!entry) {
    entry = { requests: 0, errors: 0, bytes: 0 };
    stats.upstreams[registry] = entry;
  }
  return entry;
}

/** Records `ratelimit-remaining: 76;w=21600` (and `ratelimit-limit`) from an upstream response. */
export function recordRateLimit(registry: string, headers: Headers): void {
  const remaining = leadingInt(headers.get('ratelimit-remaining'));
  if (remaining === undefined) return;
  const entry = upstreamStats(registry);
  entry.ratelimitRemaining = remaining;
  entry.ratelimitLimit = leadingInt(headers.get('ratelimit-limit')) ?? entry.ratelimitLimit;
  entry.ratelimitUpdatedAt = new Date().toISOString();
}

function leadingInt(value: string | null): number | undefined {
  const match = /^\s*(\d+)/.exec(value ?? '');
  return match ? Number(match[1]) : undefined;
}
