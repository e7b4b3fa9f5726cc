import { MetricRecorder } from './recorder.js';

// In-isolate counters for the pull path. Counts here are per isolate, not global across the edge:
// drainStatsInto() turns what changed since the last drain into deltas, which flush.ts merges into
// the one EdgeMetrics object that /stats and /metrics read.

export interface UpstreamStats {
  requests: number;
  /** Responses by HTTP status (requests without a response count in `errors`). */
  statuses: Record<string, number>;
  errors: number;
  bytes: number;
  /** Last `ratelimit-remaining` the upstream reported (Docker Hub: pulls left in the window). */
  ratelimitRemaining?: number;
  ratelimitLimit?: number;
  ratelimitUpdatedAt?: string;
}

export interface EdgeStats {
  startedAt: string;
  manifests: { hits: number; misses: number; revalidated: number; refreshed: number; staleServed: number };
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
    manifests: { hits: 0, misses: 0, revalidated: 0, refreshed: 0, staleServed: 0 },
    blobs: { hits: 0, misses: 0, bytesFromR2: 0, bytesFromUpstream: 0, stored: 0, storeFailures: 0, digestMismatches: 0 },
    upstreams: {},
  };
}

export const stats: EdgeStats = emptyStats();

export function upstreamStats(registry: string): UpstreamStats {
  let entry = stats.upstreams[registry];
  if (!entry) {
    entry = { requests: 0, statuses: {}, errors: 0, bytes: 0 };
    stats.upstreams[registry] = entry;
  }
  return entry;
}

/** Records an upstream response's status and its rate-limit headers. */
export function recordUpstreamResponse(registry: string, response: Response): void {
  const statuses = upstreamStats(registry).statuses;
  statuses[response.status] = (statuses[response.status] ?? 0) + 1;
  recordRateLimit(registry, response.headers);
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

/** Labelled deltas recorded directly (requests by route, durations, leases); the rest comes from `stats`. */
export const localMetrics = new MetricRecorder();

let drained: EdgeStats = structuredClone(emptyStats());

/** Adds what `stats` gained since the previous drain to `recorder`, as Prometheus series. */
export function drainStatsInto(recorder: MetricRecorder): void {
  const now = structuredClone(stats);
  const before = drained;
  drained = now;
  const d = (a: number, b: number) => a - b;
  const { blobs, manifests } = now;
  recorder.add('fastreg_edge_cache_hits_total', { kind: 'blob' }, d(blobs.hits, before.blobs.hits));
  recorder.add('fastreg_edge_cache_misses_total', { kind: 'blob' }, d(blobs.misses, before.blobs.misses));
  recorder.add('fastreg_edge_cache_hits_total', { kind: 'manifest' }, d(manifests.hits, before.manifests.hits));
  recorder.add('fastreg_edge_cache_misses_total', { kind: 'manifest' }, d(manifests.misses, before.manifests.misses));
  recorder.add('fastreg_edge_served_bytes_total', { source: 'r2' }, d(blobs.bytesFromR2, before.blobs.bytesFromR2));
  recorder.add('fastreg_upstream_bytes_avoided_total', {}, d(blobs.bytesFromR2, before.blobs.bytesFromR2));
  recorder.add('fastreg_edge_served_bytes_total', { source: 'upstream' }, d(blobs.bytesFromUpstream, before.blobs.bytesFromUpstream));
  recorder.add('fastreg_edge_blobs_stored_total', {}, d(blobs.stored, before.blobs.stored));
  recorder.add('fastreg_edge_blob_store_failures_total', {}, d(blobs.storeFailures, before.blobs.storeFailures));
  recorder.add('fastreg_digest_failures_total', { source: 'upstream' }, d(blobs.digestMismatches, before.blobs.digestMismatches));
  recorder.add('fastreg_edge_manifest_revalidations_total', {}, d(manifests.revalidated, before.manifests.revalidated));
  recorder.add('fastreg_edge_manifest_refreshes_total', {}, d(manifests.refreshed, before.manifests.refreshed));
  recorder.add('fastreg_edge_manifest_stale_served_total', {}, d(manifests.staleServed, before.manifests.staleServed));
  for (const [registry, up] of Object.entries(now.upstreams)) {
    const old = before.upstreams[registry] ?? { requests: 0, statuses: {}, errors: 0, bytes: 0 };
    for (const [status, count] of Object.entries(up.statuses)) {
      recorder.add('fastreg_upstream_requests_total', { registry, status }, count - (old.statuses[status] ?? 0));
    }
    recorder.add('fastreg_upstream_errors_total', { registry }, d(up.errors, old.errors));
    recorder.add('fastreg_upstream_bytes_total', { registry }, d(up.bytes, old.bytes));
    if (up.ratelimitUpdatedAt && up.ratelimitUpdatedAt !== old.ratelimitUpdatedAt) {
      const at = Date.parse(up.ratelimitUpdatedAt);
      if (up.ratelimitRemaining !== undefined) recorder.setGauge('fastreg_upstream_ratelimit_remaining', { registry }, up.ratelimitRemaining, at);
      if (up.ratelimitLimit !== undefined) recorder.setGauge('fastreg_upstream_ratelimit_limit', { registry }, up.ratelimitLimit, at);
    }
  }
}
