import { Hono } from 'hono';
import type { AppEnv } from '../app-env.js';
import { requireToken } from '../middleware/auth.js';
import { statusPageHtml } from '../status-page/page.js';

/** GET /: the status page for people, with the config's warnings; its script reads /stats. Public when pulls are (PULL_ACCESS). */
export function statusRoutes(): Hono<AppEnv> {
  const routes = new Hono<AppEnv>();
  // Guard only this route: the sub-app is mounted at '/', so a '*' middleware would cover every path.
  routes.get('/', requireToken({ skip: (config) => config.PULL_ACCESS === 'public' }), (c) =>
    c.html(statusPageHtml(c.get('config').warnings), 200, {
      'Cache-Control': 'no-store',
      'Content-Security-Policy': "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src data:",
    }),
  );
  return routes;
}
