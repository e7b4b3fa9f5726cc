import type { Context } from 'hono';
import type { AppEnv } from '../app-env.js';
import { isLoopback, parseAddress } from './addresses.js';
import { sidecarsForClient } from './live-sidecars.js';
import { rendezvous, spread } from './policy.js';
import type { EdgeConfig } from '../shared/edge-config.js';
import { signedPullQuery } from '../shared/sidecars/auth.js';
import { sidecarKeys } from '../sidecars/keys.js';
import { API_VERSION_HEADERS, PEER_HEADER, SOURCE_HEADER } from '../shared/http/headers.js';

/**
 * A `307` to a sidecar of the client's site for a blob GET, or undefined when the edge should serve
 * it: HEAD (cheap at the edge), requests from sidecars, clients of sites without live sidecars, and
 * REDIRECT_POLICY "off". `?ns=` goes along: the sidecar passes it on to the edge when it fills the
 * blob. With PULL_ACCESS=token the redirect carries a short-lived signature of (digest, ns,
 * repository, expiry) that the sidecar checks: the client follows it without credentials. The
 * client's address is CF-Connecting-IP.
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
  const query = await redirectQuery(config, { digest, name, ...(ns && { ns }) });
  if (!query) return undefined;
  const location = `${base}/v2/${name}/blobs/${digest}${query.size > 0 ? `?${query.toString()}` : ''}`;
  return new Response(null, {
    status: 307,
    headers: { Location: location, 'Cache-Control': 'no-store', [SOURCE_HEADER]: 'peer', ...API_VERSION_HEADERS },
  });
}

/** The redirect's query; undefined when pulls need a token but there is no key to sign with (the edge serves). */
async function redirectQuery(config: EdgeConfig, claims: { digest: string; name: string; ns?: string }): Promise<URLSearchParams | undefined> {
  if (config.PULL_ACCESS === 'public') return new URLSearchParams(claims.ns ? { ns: claims.ns } : {});
  const keys = sidecarKeys(config);
  return keys ? signedPullQuery((await keys).redirect, claims) : undefined;
}
