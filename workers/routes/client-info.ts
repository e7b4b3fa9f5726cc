import { Hono } from 'hono';
import type { AppEnv } from '../app-env.js';
import { requireToken } from '../middleware/auth.js';
import { CLIENT_INFO_VERSION, type ClientInfo } from '../shared/oci/client-info.js';
import { SiteMap, isLoopback, parseAddress } from '../sites/addresses.js';
import { sidecarsForClient } from '../sites/live-sidecars.js';

// GET /client-info: what the edge sees of the asking host, for `fastreg doctor`: its address and
// site, how many live sidecars that site has (and how many would get its blob GETs), the redirect
// policy, and the registries this edge mirrors (UPSTREAMS names, not URLs). Public when pulls are.

export function clientInfoRoutes(): Hono<AppEnv> {
  const routes = new Hono<AppEnv>();
  routes.use('*', requireToken({ skip: (config) => config.PULL_ACCESS === 'public' }));
  routes.get('/', async (c) => {
    const config = c.get('config');
    const client = parseAddress(c.req.header('CF-Connecting-IP'));
    const sidecars = client ? await sidecarsForClient(config, c.env.SERVICE_REGISTRY, client) : [];
    const reachable = client && (config.REDIRECT_POLICY === 'local' || isLoopback(client)) ? sidecars : sidecars.filter((s) => !s.hostLocal);
    const body: ClientInfo = {
      version: CLIENT_INFO_VERSION,
      clientIp: client?.toString() ?? null,
      site: client ? new SiteMap(config.SITES).siteOf(client) : null,
      liveSidecars: sidecars.length,
      reachableSidecars: reachable.length,
      redirectPolicy: config.REDIRECT_POLICY,
      upstreams: [...config.upstreams.keys()],
      defaultRegistry: config.DEFAULT_REGISTRY,
    };
    return c.json(body, 200, { 'Cache-Control': 'no-store' });
  });
  return routes;
}
