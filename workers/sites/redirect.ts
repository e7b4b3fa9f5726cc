import type { Context } from 'hono';
import type { AppEnv } from '../app-env.js';
import { SOURCE_HEADER } from '../metrics/middleware.js';
import { isLoopback, parseAddress } from './addresses.js';
import { sidecarsForClient } from './live-sidecars.js';
import { rendezvous, spread } from './policy.js';

/** Sidecars fetch from the edge with this header; such a request is never redirected (loop guard). */
export const PEER_HEADER = 'X-FastReg-Peer';

/**
 * A `307` to a sidecar of the client's site for a blob GET, or undefined when the edge should serve
 * it: HEAD (cheap at the edge), requests from sidecars, clients of sites without live sidecars, and
 * REDIRECT_POLICY "off". `?ns=` goes along: the sidecar passes it on to the edge when it fills the
 * blob. The client's address is CF-Connecting-IP.
 */
export async function sidecarRedirect(c: Context<AppEnv>, name: string, digest: string): Promise<Response | undefined> {
  const config = c.get('config');
  if (config.REDIRECT_POLICY === 'off' || c.req.method !== 'GET' || c.req.header(PEER_HEADER) !== undefined) return undefined;
  const client = parseAddress(c.req.header('CF-Connecting-IP'));
  if (!client) return undefined;
  const sidecars = await sidecarsForClient(config, c.env.SERVICE_REGISTRY, client);
  if (sidecars.length === 0) return undefined;

  let base: string | undefined;
  if (config.REDIRECT_POLICY === 'local') base = `http://127.0.0.1:${config.LOCAL_SIDECAR_PORT}`;
  else {
    // A sidecar on its loopback bridge (the --http default) is reachable from its own machine only.
    const reachable = isLoopback(client) ? sidecars : sidecars.filter((sidecar) => !sidecar.hostLocal);
    base = (config.REDIRECT_POLICY === 'spread' ? spread(reachable) : await rendezvous(reachable, digest))?.endpoint;
  }
  if (!base) return undefined;

  const ns = c.req.query('ns');
  const location = `${base}/v2/${name}/blobs/${digest}${ns ? `?ns=${encodeURIComponent(ns)}` : ''}`;
  return new Response(null, {
    status: 307,
    headers: { Location: location, 'Cache-Control': 'no-store', [SOURCE_HEADER]: 'peer', 'Docker-Distribution-API-Version': 'registry/2.0' },
  });
}
