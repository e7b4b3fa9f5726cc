import { createHash } from 'node:crypto';
import { OciError, parseDigest } from '../../workers/shared/oci/index.js';
import { httpError, send, type Server } from './http.js';
import type { BlobDescriptor, EdgeTarget } from './manifest-walk.js';
import { SOURCE_HEADER } from '../../workers/shared/http/headers.js';

// Warms one blob: asks the edge (which sends a 307 to a sidecar of this site, or serves the blob
// itself when the site has none) or a named sidecar, and reads the answer through sha256 and a
// size check without keeping the bytes.

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

export type WarmVia = { kind: 'edge'; edge: EdgeTarget } | { kind: 'sidecar'; sidecar: Server };

export interface WarmedBlob {
  digest: string;
  bytes: number;
  /** Who served it and where they had it from: `sidecar/local|p2p|edge`, `edge/r2|upstream|…`. */
  source: string;
  /** Origin of the sidecar that now holds the blob; undefined when the edge served it itself. */
  sidecar?: string;
}

export interface WarmOptions {
  name: string;
  ns?: string;
  signal: AbortSignal;
  timeoutMs: number;
  onBytes(count: number): void;
}

export async function warmBlob(via: WarmVia, blob: BlobDescriptor, options: WarmOptions): Promise<WarmedBlob> {
  const deadline = AbortSignal.any([options.signal, AbortSignal.timeout(options.timeoutMs)]);
  try {
    if (via.kind === 'sidecar') return await readFrom(via.sidecar, blobUrl(via.sidecar.base, blob, options), blob, options, deadline);
    return await warmThroughEdge(via.edge, blob, options, deadline);
  } catch (err) {
    if (deadline.aborted && !options.signal.aborted) {
      throw new OciError('UPSTREAM_TIMEOUT', `blob ${blob.digest} did not arrive within ${options.timeoutMs / 1000} s`);
    }
    throw err;
  }
}

async function warmThroughEdge(edge: EdgeTarget, blob: BlobDescriptor, options: WarmOptions, signal: AbortSignal): Promise<WarmedBlob> {
  const headers: Record<string, string> = { 'User-Agent': 'fastreg-prefetch' };
  if (edge.token) headers.Authorization = `Bearer ${edge.token}`;
  const response = await send(edge, blobUrl(edge.base, blob, options), { headers, redirect: 'manual', signal });
  const location = response.headers.get('Location');
  if (REDIRECTS.has(response.status) && location) {
    await response.body?.cancel();
    const target = new URL(location, edge.base);
    return readFrom({ role: 'the sidecar', base: target.origin }, target, blob, options, signal);
  }
  if (response.status !== 200) throw await httpError(edge, `GET blob ${blob.digest}`, response);
  return { ...(await verify(edge, response, blob, options)), source: `edge/${response.headers.get(SOURCE_HEADER) ?? 'unknown'}` };
}

async function readFrom(sidecar: Server, url: URL, blob: BlobDescriptor, options: WarmOptions, signal: AbortSignal): Promise<WarmedBlob> {
  // No Authorization: the edge's token is not the sidecar's business, and its blob GETs are open.
  const response = await send(sidecar, url, { headers: { 'User-Agent': 'fastreg-prefetch' }, signal });
  if (response.status !== 200) throw await httpError(sidecar, `GET blob ${blob.digest}`, response);
  const source = `sidecar/${response.headers.get(SOURCE_HEADER) ?? 'unknown'}`;
  return { ...(await verify(sidecar, response, blob, options)), source, sidecar: sidecar.base };
}

function blobUrl(base: string, blob: BlobDescriptor, options: WarmOptions): URL {
  const url = new URL(`${base}/v2/${options.name}/blobs/${blob.digest}`);
  if (options.ns) url.searchParams.set('ns', options.ns);
  return url;
}

async function verify(server: Server, response: Response, blob: BlobDescriptor, options: WarmOptions): Promise<{ digest: string; bytes: number }> {
  const { algorithm, hex } = parseDigest(blob.digest);
  const hash = createHash(algorithm);
  let bytes = 0;
  for await (const chunk of (response.body ?? []) as AsyncIterable<Uint8Array>) {
    bytes += chunk.byteLength;
    if (bytes > blob.size) throw badBytes('SIZE_INVALID', server, blob, `more than the ${blob.size} bytes the manifest gives`);
    hash.update(chunk);
    options.onBytes(chunk.byteLength);
  }
  if (bytes !== blob.size) throw badBytes('SIZE_INVALID', server, blob, `${bytes} bytes, the manifest gives ${blob.size}`);
  const actual = hash.digest('hex');
  if (actual !== hex) throw badBytes('DIGEST_INVALID', server, blob, `bytes with digest ${algorithm}:${actual}`);
  return { digest: blob.digest, bytes };
}

function badBytes(code: 'SIZE_INVALID' | 'DIGEST_INVALID', server: Server, blob: BlobDescriptor, what: string): OciError {
  return new OciError(code, `${server.role} at ${server.base} sent ${what} for blob ${blob.digest}`);
}
