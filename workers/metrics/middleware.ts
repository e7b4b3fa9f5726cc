import type { MiddlewareHandler } from 'hono';
import type { AppEnv } from '../app-env.js';
import { localMetrics } from './stats.js';
import { edgeFlusher, metricsSink } from './edge.js';
import { SOURCE_HEADER } from '../shared/http/headers.js';

/** Counts every request by route, status and source, times it, and flushes deltas when one is due. */
export function requestMetrics(): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const started = performance.now();
    await next();
    const route = routeOf(c.req.path);
    localMetrics.add('fastreg_edge_requests_total', { route, status: String(c.res.status), source: c.res.headers.get(SOURCE_HEADER) ?? 'none' });
    localMetrics.observe('fastreg_edge_request_duration_seconds', { route }, (performance.now() - started) / 1000);
    const flushing = edgeFlusher.maybeFlush(metricsSink(c.env.EDGE_METRICS));
    if (flushing) c.executionCtx.waitUntil(flushing);
  };
}

/** A small fixed set of route names, so labels stay bounded whatever paths clients send. */
export function routeOf(path: string): string {
  if (path.startsWith('/v2/')) {
    if (path === '/v2/' || path === '/v2') return 'base';
    if (path.includes('/manifests/')) return 'manifest';
    if (path.includes('/blobs/')) return 'blob';
    if (path.endsWith('/tags/list')) return 'tags';
    return 'other';
  }
  if (path === '/v2') return 'base';
  if (path === '/') return 'status_page';
  const first = path.split('/')[1] ?? '';
  return ['metrics', 'stats', 'services', 'leases'].includes(first) ? first : 'other';
}
