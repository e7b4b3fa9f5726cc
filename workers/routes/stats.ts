import { Hono } from 'hono';
import type { AppEnv } from '../app-env.js';
import { stats } from '../stats.js';

/** GET /stats: this isolate's pull-path counters as JSON. */
export function statsRoutes(): Hono<AppEnv> {
  const routes = new Hono<AppEnv>();
  routes.get('/', (c) => c.json(stats, 200, { 'Cache-Control': 'no-store' }));
  return routes;
}
