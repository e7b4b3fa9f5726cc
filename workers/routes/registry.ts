import { Hono } from 'hono';
import type { Context } from 'hono';
import { BlobLeaseClient } from '../../durable-objects/blob-lease-client.js';
import type { AppEnv } from '../app-env.js';
import { BlobService } from '../cache/blob-service.js';
import { getManifest, manifestSource } from '../cache/manifest-cache.js';
import { requireToken } from '../middleware/auth.js';
import { sidecarRedirect } from '../sites/redirect.js';
import { siteFillerRedirect } from '../sites/site-filler.js';
import { type Digest, OciError, parseDigest, parseRegistryPath, type Reference, TAG_GRAMMAR } from '../shared/oci/index.js';
import { readSmallBody } from '../upstream/read-body.js';
import { pullScope, selectUpstream, type SelectedUpstream } from '../upstream/select.js';
import { API_VERSION_HEADERS, SOURCE_HEADER } from '../shared/http/headers.js';

const MAX_TAG_LIST_BYTES = 4 * 1024 * 1024;

type RegistryContext = Context<AppEnv>;

/** OCI Distribution pull API, mounted at /v2. */
export function registryRoutes(): Hono<AppEnv> {
  const routes = new Hono<AppEnv>();

  routes.use('*', requireToken({ skip: (config) => config.PULL_ACCESS === 'public', sidecar: (c) => isBlobOrBase(c.req.path) }));
  routes.all('*', async (c) => {
    const path = parseRegistryPath(c.req.path);
    const method = c.req.method;
    if (path.kind === 'upload' || (method !== 'GET' && method !== 'HEAD')) {
      throw new OciError('UNSUPPORTED', `${method} is not supported: FastReg is a read-only pull-through mirror`);
    }
    if (path.kind === 'base') {
      return new Response(method === 'HEAD' ? null : '{}', { headers: { 'Content-Type': 'application/json', ...API_VERSION_HEADERS } });
    }
    const upstream = selectUpstream(c.get('config'), c.req.query('ns'), path.name);
    switch (path.kind) {
      case 'manifest':
        return manifestResponse(c, upstream, path.reference);
      case 'blob': {
        const digest = parseDigest(path.digest);
        return (await sidecarRedirect(c, path.name, digest.value)) ?? (await siteFillerRedirect(c, path.name, digest.value)) ?? blobResponse(c, upstream, digest);
      }
      case 'tags':
        return tagListResponse(c, upstream);
    }
  });

  return routes;
}

/** A sidecar fetches blobs as a peer (and probes /v2/); manifests and tag lists are not its business. */
function isBlobOrBase(path: string): boolean {
  try {
    const kind = parseRegistryPath(path).kind;
    return kind === 'blob' || kind === 'base';
  } catch {
    return false;
  }
}

async function manifestResponse(c: RegistryContext, upstream: SelectedUpstream, reference: Reference): Promise<Response> {
  const config = c.get('config');
  const entry = await getManifest(
    {
      bucket: c.env.BLOBS,
      upstream,
      tagTtlSeconds: config.MANIFEST_TAG_TTL_SECONDS,
      waitUntil: (promise) => c.executionCtx.waitUntil(promise),
      leases: new BlobLeaseClient(c.env.BLOB_LEASE, { ttlMs: config.LEASE_TTL_MS, maxHolders: 1 }),
    },
    reference,
  );
  const headers = {
    'Content-Type': entry.mediaType,
    'Content-Length': String(entry.body.byteLength),
    'Docker-Content-Digest': entry.digest,
    [SOURCE_HEADER]: manifestSource(entry),
    ...API_VERSION_HEADERS,
  };
  return new Response(c.req.method === 'HEAD' ? null : entry.body, { headers });
}

function blobResponse(c: RegistryContext, upstream: SelectedUpstream, digest: Digest): Promise<Response> {
  const method = c.req.method === 'HEAD' ? 'HEAD' : 'GET';
  const service = new BlobService({
    bucket: c.env.BLOBS,
    leases: c.env.BLOB_LEASE,
    config: c.get('config'),
    waitUntil: (promise) => c.executionCtx.waitUntil(promise),
  });
  return service.serve({ upstream, digest, method, rangeHeader: method === 'GET' ? c.req.header('Range') : undefined });
}

/** Passed through to the upstream, with its `n` and `last` pagination parameters. */
async function tagListResponse(c: RegistryContext, upstream: SelectedUpstream): Promise<Response> {
  const query = new URLSearchParams();
  const n = c.req.query('n');
  const last = c.req.query('last');
  if (n !== undefined) {
    if (!/^\d{1,6}$/.test(n)) throw new OciError('INVALID_REQUEST', 'n must be a non-negative integer');
    query.set('n', n);
  }
  if (last !== undefined) {
    if (!TAG_GRAMMAR.test(last)) throw new OciError('INVALID_REQUEST', 'last must be a tag');
    query.set('last', last);
  }
  const search = query.size > 0 ? `?${query.toString()}` : '';
  const fetched = await upstream.client.request({
    method: 'GET',
    path: `/v2/${upstream.repository}/tags/list${search}`,
    scope: pullScope(upstream.repository),
    accept: 'application/json',
    notFound: 'NAME_UNKNOWN',
    what: `tag list of ${upstream.repository}`,
  });
  const body = await readSmallBody(fetched, upstream.registry, MAX_TAG_LIST_BYTES, upstream.client.timeoutMs);
  const headers: Record<string, string> = { 'Content-Type': 'application/json', 'Content-Length': String(body.byteLength), ...API_VERSION_HEADERS };
  const link = fetched.response.headers.get('Link');
  if (link) headers.Link = link;
  return new Response(c.req.method === 'HEAD' ? null : body, { headers });
}
