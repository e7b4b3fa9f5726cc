import { Hono } from 'hono';
import type { AppEnv } from '../app-env.js';
import { edgeExposition } from '../metrics/exposition.js';
import { PROMETHEUS_CONTENT_TYPE } from '../shared/metrics-wire/prometheus.js';
import { readEdgeMetrics } from '../metrics/read.js';
import { requireToken } from '../middleware/auth.js';

/** GET /metrics: Prometheus text format 0.0.4, summed across isolates. Public when pulls are (PULL_ACCESS). */
export function metricsRoutes(): Hono<AppEnv> {
  const routes = new Hono<AppEnv>();
  routes.use('*', requireToken({ skip: (config) => config.PULL_ACCESS === 'public' }));
  routes.get('/', async (c) => {
    const { snapshot, sidecars } = await readEdgeMetrics(c.env);
    return c.body(edgeExposition(snapshot, sidecars.length), 200, { 'Content-Type': PROMETHEUS_CONTENT_TYPE, 'Cache-Control': 'no-store' });
  });
  return routes;
}
