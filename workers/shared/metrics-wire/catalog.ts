import type { MetricFamily } from './prometheus.js';

// Every metric the edge exports: name, type and help in one place. Names follow Prometheus
// conventions: base units (seconds, bytes), `_total` for counters.

export interface MetricDef {
  type: MetricFamily['type'];
  help: string;
}

/** Request duration buckets in seconds (time to response headers; bodies stream on afterwards). */
export const DURATION_BOUNDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30] as const;

export const EDGE_METRICS = {
  fastreg_edge_requests_total: { type: 'counter', help: 'HTTP requests answered by the edge, by route, status and source of the bytes (r2, upstream, peer, none)' },
  fastreg_edge_request_duration_seconds: { type: 'histogram', help: 'Time from request to response headers, by route' },
  fastreg_edge_served_bytes_total: { type: 'counter', help: 'Blob bytes sent to clients, by source (r2 = edge cache, upstream = streamed while filling)' },
  fastreg_edge_cache_hits_total: { type: 'counter', help: 'Lookups answered from the edge cache (R2), by kind (blob, manifest)' },
  fastreg_edge_cache_misses_total: { type: 'counter', help: 'Lookups that had to go to the upstream, by kind (blob, manifest)' },
  fastreg_edge_blobs_stored_total: { type: 'counter', help: 'Blobs written to R2 after verification' },
  fastreg_edge_blob_store_failures_total: { type: 'counter', help: 'Blob fills that were not stored (digest mismatch, upstream failure, client abort of a range-less fill)' },
  fastreg_edge_manifest_revalidations_total: { type: 'counter', help: 'Tag manifests revalidated with a HEAD to the upstream' },
  fastreg_edge_manifest_refreshes_total: { type: 'counter', help: 'Revalidations that found the cached manifest still current' },
  fastreg_edge_manifest_stale_served_total: { type: 'counter', help: 'Tag manifests served stale because the upstream failed or rate-limited' },
  fastreg_upstream_requests_total: { type: 'counter', help: 'HTTP requests sent to upstream registries, by registry and response status (requests that got no response count only in fastreg_upstream_errors_total)' },
  fastreg_upstream_errors_total: { type: 'counter', help: 'Upstream requests that failed (network, timeout or non-2xx), by registry' },
  fastreg_upstream_bytes_total: { type: 'counter', help: 'Blob bytes read from upstream registries, by registry' },
  fastreg_upstream_bytes_avoided_total: { type: 'counter', help: 'Blob bytes served from the edge cache that would otherwise have come from the upstream' },
  fastreg_upstream_ratelimit_remaining: { type: 'gauge', help: 'Last ratelimit-remaining the upstream reported (Docker Hub: pulls left in the window), by registry' },
  fastreg_upstream_ratelimit_limit: { type: 'gauge', help: 'Last ratelimit-limit the upstream reported, by registry' },
  fastreg_leases_total: { type: 'counter', help: 'Upstream-fetch lease outcomes seen by edge requests: granted, waited, expired, takeover; by kind (blob, manifest)' },
  fastreg_leases_active: { type: 'gauge', help: 'Leases granted to edge requests and not yet completed or released' },
  fastreg_digest_failures_total: { type: 'counter', help: 'Content whose sha256 did not match its digest, by source' },
  fastreg_sidecars_online: { type: 'gauge', help: 'Sidecar service records alive in the edge service registry' },
  fastreg_edge_metrics_flushes_total: { type: 'counter', help: 'Batches of isolate-local metric deltas merged into the EdgeMetrics object' },
} as const satisfies Record<string, MetricDef>;

export type EdgeMetricName = keyof typeof EDGE_METRICS;
