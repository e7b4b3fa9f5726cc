import { Hono } from 'hono';
import type { AppEnv } from '../app-env.js';
import { readEdgeMetrics } from '../metrics/read.js';
import { buildStatsBody, buildSummary } from '../metrics/summary.js';
import { requireToken } from '../middleware/auth.js';

/** GET /stats: the operator summary and pull-path counters as JSON, summed across isolates. Public when pulls are (PULL_ACCESS). */
export function statsRoutes(): Hono<AppEnv> {
  const routes = new Hono<AppEnv>();
  routes.use('*', requireToken({ skip: (config) => config.PULL_ACCESS === 'public' }));
  routes.get('/', async (c) => {
    const { snapshot, sidecars } = await readEdgeMetrics(c.env);
    return c.json(buildStatsBody(snapshot, buildSummary(snapshot, sidecars)), 200, { 'Cache-Control': 'no-store' });
  });
  return routes;
}
