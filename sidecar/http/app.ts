import type { HttpBindings } from '@hono/node-server';
import { Hono, type Context } from 'hono';
import { noSniff } from '../../workers/shared/http/no-sniff.js';
import { MediaType, OciError, contentRange, ociErrorResponse, parseDigest, parseRange, parseRegistryNs, parseRegistryPath, validateName, type Digest } from '../../workers/shared/oci/index.js';
import type { BlobResolver, BlobSourceName } from '../blob-resolver.js';
import type { BlobOrigin } from '../edge/edge-source.js';
import type { SidecarMetrics } from '../metrics.js';
import { validateKvKey, MAX_KV_VALUE_BYTES } from '../node/kv-record.js';
import type { DhtRouter } from '../node/routing.js';
import type { BlobStore } from '../store/blob-store.js';
import { checkPullSignature, requireToken } from './auth.js';
import { toWebStream } from './streams.js';
import { API_VERSION_HEADERS, SOURCE_HEADER } from '../../workers/shared/http/headers.js';
import { readBounded } from '../../workers/shared/http/read-bounded.js';

export interface BridgeDeps {
  store: BlobStore;
  resolver: BlobResolver;
  router: DhtRouter;
  metrics: SidecarMetrics;
  token?: string;
  /** The edge's redirect key when pulls need a token there; blob GETs must then carry its signature. */
  pullKey?: () => Uint8Array | undefined;
  info(): { peerId: string; addrs: string[]; service: string };
  peers(): { peerId: string; addrs: string[] }[];
}

type BridgeEnv = { Bindings: HttpBindings; Variables: { source: BlobSourceName | 'none' } };

/** The sidecar's HTTP bridge. Errors are thrown as OciError and become responses in onError only. */
export function createBridgeApp(deps: BridgeDeps): Hono<BridgeEnv> {
  const app = new Hono<BridgeEnv>();
  const writeGuard = requireToken(deps.token);

  app.use(noSniff());
  app.use(async (c, next) => {
    const started = performance.now();
    await next();
    deps.metrics.requestDuration.observe({ route: c.req.routePath || 'unmatched' }, (performance.now() - started) / 1000);
    deps.metrics.requests.inc({ route: c.req.routePath || 'unmatched', status: String(c.res.status), source: c.get('source') ?? 'none' });
  });
  app.onError((err, c) => {
    const response = ociErrorResponse(err, c.req.method);
    if (!(err instanceof OciError)) console.error(`fastreg sidecar: ${c.req.method} ${c.req.path}: ${err.stack ?? err.message}`);
    else if (response.status >= 500) console.error(`fastreg sidecar: ${c.req.method} ${c.req.path}: ${response.status} ${err.code}: ${err.message}`);
    return response;
  });
  app.notFound((c) => ociErrorResponse(new OciError('NOT_FOUND', `no route for ${c.req.method} ${c.req.path.slice(0, 120)}`), c.req.method));

  /** Maps the resolver's blob stream onto HTTP: headers, Range, HEAD. The bytes follow a fill as it grows. */
  const serveBlob = async (c: Context<BridgeEnv>, digest: Digest, name: string | undefined) => {
    const ns = c.req.query('ns');
    const pullKey = deps.pullKey?.();
    if (pullKey) await checkPullSignature(pullKey, { digest: digest.value, name, ns }, (param) => c.req.query(param));
    const origin: BlobOrigin | undefined = name === undefined ? undefined : { name, ...(ns && { ns: parseRegistryNs(ns) }) };
    const signal = c.req.raw.signal;
    const stream = c.req.method === 'HEAD' ? undefined : await deps.resolver.open(digest, origin, signal);
    const blob = stream ?? (await deps.resolver.stat(digest, origin, signal));
    c.set('source', blob.source);
    // A fill whose source gave no length is sent whole, chunked.
    const range = blob.size === undefined ? undefined : parseRange(c.req.header('Range'), blob.size);
    const headers: Record<string, string> = {
      'Content-Type': MediaType.OctetStream,
      'Docker-Content-Digest': digest.value,
      'Accept-Ranges': 'bytes',
      [SOURCE_HEADER]: blob.source,
    };
    const length = range ? range.length : blob.size;
    if (length !== undefined) headers['Content-Length'] = String(length);
    if (range && blob.size !== undefined) headers['Content-Range'] = contentRange(range, blob.size);
    const status = range ? 206 : 200;
    if (!stream) return c.body(null, status, headers);
    if (length !== undefined) deps.metrics.servedBytes.inc({ source: blob.source }, length);
    return c.body(toWebStream(stream.read(range ? { offset: range.offset, length: range.length } : {}, signal)), status, headers);
  };

  app.get('/v2/', (c) => c.json({}, 200, { ...API_VERSION_HEADERS }));
  app.on(['GET', 'HEAD'], '/v2/*', async (c) => {
    const path = parseRegistryPath(c.req.path);
    if (path.kind !== 'blob') throw new OciError('UNSUPPORTED', 'the sidecar serves blobs only; manifests come from the edge');
    return serveBlob(c, parseDigest(path.digest), path.name);
  });

  app.on(['GET', 'HEAD'], '/blobs/:digest', async (c) => {
    const name = c.req.query('name');
    return serveBlob(c, parseDigest(c.req.param('digest')), name === undefined ? undefined : validateName(name));
  });

  app.put('/blobs/:digest', writeGuard, async (c) => {
    const digest = parseDigest(c.req.param('digest'));
    const lengthHeader = c.req.header('Content-Length');
    const expectedSize = lengthHeader === undefined ? undefined : Number(lengthHeader);
    if (expectedSize !== undefined && (!Number.isSafeInteger(expectedSize) || expectedSize < 0)) {
      throw new OciError('SIZE_INVALID', 'invalid Content-Length');
    }
    const body: AsyncIterable<Uint8Array> | null =
      (c.env?.incoming as AsyncIterable<Uint8Array> | undefined) ?? (c.req.raw.body as unknown as AsyncIterable<Uint8Array> | null);
    if (!body) throw new OciError('BLOB_UPLOAD_INVALID', 'request has no body');
    const { info, created } = await deps.resolver.accept(body, digest, { expectedSize });
    return c.json(info, created ? 201 : 200, { 'Docker-Content-Digest': digest.value, Location: `/blobs/${digest.value}` });
  });

  app.get('/providers/:digest', async (c) => {
    const digest = parseDigest(c.req.param('digest'));
    const providers = await deps.router.findProviders(digest, { timeoutMs: 5_000 });
    const held = await deps.store.has(digest);
    const self = deps.info();
    return c.json({
      digest: digest.value,
      providers: [
        ...(held ? [{ peerId: self.peerId, addrs: self.addrs, self: true }] : []),
        ...providers.map((p) => ({ peerId: p.id.toString(), addrs: p.multiaddrs.map(String), self: false })),
      ],
    });
  });

  app.get('/kv/:key{.+}', async (c) => {
    const key = validateKvKey(c.req.param('key'));
    const record = await deps.router.getValue(key);
    if (!record) throw new OciError('NOT_FOUND', `no value for kv key ${key}`);
    return c.json({ key, value: record.value, seq: record.seq });
  });

  app.put('/kv/:key{.+}', writeGuard, async (c) => {
    const key = validateKvKey(c.req.param('key'));
    const length = Number(c.req.header('Content-Length') ?? '0');
    if (length > MAX_KV_VALUE_BYTES) throw new OciError('PAYLOAD_TOO_LARGE', `kv values are limited to ${MAX_KV_VALUE_BYTES} bytes`);
    const bytes = await readBounded(c.env?.incoming ?? (c.req.raw.body as unknown as AsyncIterable<Uint8Array> | null), MAX_KV_VALUE_BYTES, {
      tooLarge: () => new OciError('PAYLOAD_TOO_LARGE', `kv values are limited to ${MAX_KV_VALUE_BYTES} bytes`),
    });
    const value = new TextDecoder().decode(bytes);
    const record = await deps.router.putValue(key, value);
    return c.json({ key, value: record.value, seq: record.seq }, 201);
  });

  app.get('/peers', (c) => c.json({ peers: deps.peers() }));
  app.get('/healthz', (c) => c.json({ status: 'ok', ...deps.info(), peers: deps.peers().length, store: deps.store.usage() }));
  app.get('/metrics', async (c) => c.text(await deps.metrics.registry.metrics(), 200, { 'Content-Type': deps.metrics.registry.contentType }));

  return app;
}
