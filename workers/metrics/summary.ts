import type { EdgeMetricsSnapshot } from '../../durable-objects/edge-metrics.js';
import { REGISTRY_ROUTES } from '../../durable-objects/edge-metrics.js';
import type { EdgeStats, UpstreamStats } from './stats.js';
import type { SidecarOnline } from './sidecars.js';
import type { StatusSummary, UpstreamSummary } from '../shared/metrics-wire/summary-types.js';

export type { StatusSummary, UpstreamSummary } from '../shared/metrics-wire/summary-types.js';

// What /stats returns: the operator summary (also shown by the status page and `fastreg status`),
// plus the older per-area counters, all summed across isolates by the EdgeMetrics object.

export type StatsBody = Omit<EdgeStats, 'upstreams'> & { upstreams: Record<string, Omit<UpstreamStats, 'statuses'> & { statuses: Record<string, number> }>; summary: StatusSummary };

type Where = Record<string, string | ((value: string) => boolean)>;

function sum(snapshot: EdgeMetricsSnapshot, name: string, where: Where = {}): number {
  let total = 0;
  for (const c of snapshot.counters) {
    if (c.name !== name) continue;
    const ok = Object.entries(where).every(([key, want]) => {
      const have = c.labels[key] ?? '';
      return typeof want === 'string' ? have === want : want(have);
    });
    if (ok) total += c.value;
  }
  return total;
}

const ratio = (hits: number, total: number) => (total > 0 ? hits / total : null);
const isRegistryRoute = (route: string) => REGISTRY_ROUTES.has(route);

export function buildSummary(snapshot: EdgeMetricsSnapshot, sidecars: SidecarOnline[], now = new Date()): StatusSummary {
  const cached = sum(snapshot, 'fastreg_edge_requests_total', { route: isRegistryRoute, source: 'r2' });
  const upstream = sum(snapshot, 'fastreg_edge_requests_total', { route: isRegistryRoute, source: 'upstream' });
  const lease = (outcome: string) => sum(snapshot, 'fastreg_leases_total', { outcome });
  return {
    since: snapshot.since,
    generatedAt: now.toISOString(),
    requests: { cached, upstream, total: cached + upstream, hitRatio: ratio(cached, cached + upstream) },
    bytes: {
      servedFromCache: sum(snapshot, 'fastreg_edge_served_bytes_total', { source: 'r2' }),
      servedFromUpstream: sum(snapshot, 'fastreg_edge_served_bytes_total', { source: 'upstream' }),
      upstreamRead: sum(snapshot, 'fastreg_upstream_bytes_total'),
      upstreamAvoided: sum(snapshot, 'fastreg_upstream_bytes_avoided_total'),
    },
    leases: {
      active: Math.max(0, sum(snapshot, 'fastreg_leases_active')),
      granted: lease('granted'),
      waited: lease('waited'),
      expired: lease('expired'),
      takeover: lease('takeover'),
    },
    digestFailures: sum(snapshot, 'fastreg_digest_failures_total'),
    upstreams: upstreamSummaries(snapshot),
    sidecars: { online: sidecars.length, list: sidecars },
    history: snapshot.history.map((m) => ({
      at: new Date(m.at).toISOString(),
      cached: m.cached,
      upstream: m.upstream,
      hitRatio: ratio(m.cached, m.cached + m.upstream),
      bytesAvoided: m.bytesAvoided,
    })),
  };
}

function upstreamSummaries(snapshot: EdgeMetricsSnapshot): UpstreamSummary[] {
  const registries = new Set<string>();
  for (const series of [...snapshot.counters, ...snapshot.gauges]) {
    if (series.name.startsWith('fastreg_upstream_') && series.labels.registry) registries.add(series.labels.registry);
  }
  return [...registries].sort().map((registry) => {
    const remaining = snapshot.gauges.find((g) => g.name === 'fastreg_upstream_ratelimit_remaining' && g.labels.registry === registry);
    const limit = snapshot.gauges.find((g) => g.name === 'fastreg_upstream_ratelimit_limit' && g.labels.registry === registry);
    return {
      registry,
      requests: sum(snapshot, 'fastreg_upstream_requests_total', { registry }),
      errors: sum(snapshot, 'fastreg_upstream_errors_total', { registry }),
      bytes: sum(snapshot, 'fastreg_upstream_bytes_total', { registry }),
      ...(remaining && { ratelimitRemaining: remaining.value, ratelimitUpdatedAt: new Date(remaining.at).toISOString() }),
      ...(limit && { ratelimitLimit: limit.value }),
    };
  });
}

/** The /stats body: the summary plus the per-area counters in the shape of workers/metrics/stats.ts. */
export function buildStatsBody(snapshot: EdgeMetricsSnapshot, summary: StatusSummary): StatsBody {
  const kind = (name: string, k: string) => sum(snapshot, name, { kind: k });
  const upstreams: StatsBody['upstreams'] = {};
  for (const up of summary.upstreams) {
    const statuses: Record<string, number> = {};
    for (const c of snapshot.counters) {
      if (c.name === 'fastreg_upstream_requests_total' && c.labels.registry === up.registry && c.labels.status) statuses[c.labels.status] = c.value;
    }
    upstreams[up.registry] = {
      requests: up.requests,
      statuses,
      errors: up.errors,
      bytes: up.bytes,
      ...(up.ratelimitRemaining !== undefined && { ratelimitRemaining: up.ratelimitRemaining, ratelimitUpdatedAt: up.ratelimitUpdatedAt }),
      ...(up.ratelimitLimit !== undefined && { ratelimitLimit: up.ratelimitLimit }),
    };
  }
  return {
    startedAt: snapshot.since,
    manifests: {
      hits: kind('fastreg_edge_cache_hits_total', 'manifest'),
      misses: kind('fastreg_edge_cache_misses_total', 'manifest'),
      revalidated: sum(snapshot, 'fastreg_edge_manifest_revalidations_total'),
      refreshed: sum(snapshot, 'fastreg_edge_manifest_refreshes_total'),
      staleServed: sum(snapshot, 'fastreg_edge_manifest_stale_served_total'),
    },
    blobs: {
      hits: kind('fastreg_edge_cache_hits_total', 'blob'),
      misses: kind('fastreg_edge_cache_misses_total', 'blob'),
      bytesFromR2: summary.bytes.servedFromCache,
      bytesFromUpstream: summary.bytes.servedFromUpstream,
      stored: sum(snapshot, 'fastreg_edge_blobs_stored_total'),
      storeFailures: sum(snapshot, 'fastreg_edge_blob_store_failures_total'),
      digestMismatches: sum(snapshot, 'fastreg_digest_failures_total', { source: 'upstream' }),
    },
    upstreams,
    summary,
  };
}
