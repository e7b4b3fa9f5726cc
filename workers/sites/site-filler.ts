import type { Context } from 'hono';
import { SiteFillClient } from '../../durable-objects/site-fill-client.js';
import type { AppEnv } from '../app-env.js';
import { identifyBearer } from '../middleware/auth.js';
import { API_VERSION_HEADERS, FILLER_ADDRS_HEADER, FILLER_FAILED_HEADER, FILLER_HEADER, PEER_HEADER, SOURCE_HEADER } from '../shared/http/headers.js';
import { parseAddress } from './addresses.js';
import { sidecarsForClient, siteOfClient } from './live-sidecars.js';

/**
 * One filler per site (issue 11): a blob GET from a live sidecar of site S (X-FastReg-Peer plus the
 * sidecar's credential) claims "S's filler of this digest" in the digest's SiteFill actor. The first asker
 * gets undefined (the edge serves it); the others get a `307` to the filler's bridge with
 * X-FastReg-Filler (its peer ID) and its multiaddrs, and stream the blob from it over P2P while it
 * fills. A sidecar that could not stream from the filler says so with X-FastReg-Filler-Failed and
 * is served. Anonymous requests, other tokens and sidecars that are not live in the requester's
 * site create nothing and are served as before; so are all requests when the claim cannot be read.
 */
export async function siteFillerRedirect(c: Context<AppEnv>, name: string, digest: string): Promise<Response | undefined> {
  const peer = c.req.header(PEER_HEADER);
  if (c.req.method !== 'GET' || peer === undefined) return undefined;
  const config = c.get('config');
  if (!(await isClaimingSidecar(c, peer))) return undefined;
  const client = parseAddress(c.req.header('CF-Connecting-IP'));
  if (!client) return undefined;
  const sidecars = await sidecarsForClient(config, c.env.SERVICE_REGISTRY, client);
  if (!sidecars.some((sidecar) => sidecar.id === peer)) return undefined;
  let claim;
  try {
    claim = await new SiteFillClient(c.env.SITE_FILL).claim(siteOfClient(config, client), digest, {
      sidecar: peer,
      live: sidecars.map((sidecar) => sidecar.id),
      replacing: c.req.header(FILLER_FAILED_HEADER),
    });
  } catch (err) {
    console.warn(`fastreg: site fill claim for ${digest} failed, serving the blob: ${(err as Error).message}`);
    return undefined;
  }
  if (claim.kind === 'Granted') return undefined;
  const filler = sidecars.find((sidecar) => sidecar.id === claim.filler);
  if (!filler) return undefined;
  const ns = c.req.query('ns');
  const headers: Record<string, string> = {
    Location: `${filler.endpoint}/v2/${name}/blobs/${digest}${ns ? `?ns=${encodeURIComponent(ns)}` : ''}`,
    [FILLER_HEADER]: filler.id,
    'Cache-Control': 'no-store',
    [SOURCE_HEADER]: 'peer',
    ...API_VERSION_HEADERS,
  };
  const addrs = filler.multiaddrs.filter((addr) => !addr.includes(',')).slice(0, 8).join(',');
  if (addrs) headers[FILLER_ADDRS_HEADER] = addrs;
  return new Response(null, { status: 307, headers });
}

/** Only the sidecar named by X-FastReg-Peer (its own credential), or the admin, may claim. */
async function isClaimingSidecar(c: Context<AppEnv>, peer: string): Promise<boolean> {
  try {
    const actor = await identifyBearer(c.get('config'), c.req.header('Authorization'));
    return actor.admin || (actor.role === 'sidecar' && actor.peerId === peer);
  } catch {
    return false;
  }
}
