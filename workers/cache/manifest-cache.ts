import { declaredManifestType, digestOf, MANIFEST_ACCEPT, OciError, parseDigest, type Reference } from '../shared/oci/index.js';
import type { BlobLeaseClient } from '../../durable-objects/blob-lease-client.js';
import { leaseObserver } from '../metrics/leases.js';
import { localMetrics, stats } from '../metrics/stats.js';
import { readSmallBody } from '../upstream/read-body.js';
import { pullScope, type SelectedUpstream } from '../upstream/select.js';
import { manifestDigestKey, manifestTagKey } from './keys.js';

/** OCI recommends registries accept manifests up to 4 MiB. */
const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

export interface ManifestEntry {
  body: Uint8Array;
  mediaType: string;
  digest: string;
  /** When the upstream last confirmed this content, ms since epoch. */
  fetchedAt: number;
}

export interface ManifestCacheOptions {
  bucket: R2Bucket;
  upstream: SelectedUpstream;
  tagTtlSeconds: number;
  /** Keeps the shared fetch alive when the request that started it goes away. */
  waitUntil: (promise: Promise<unknown>) => void;
  /** When given, concurrent fetches of one manifest share a lease across isolates and edge locations too. */
  leases?: BlobLeaseClient;
}

/** Entries this isolate just fetched from the upstream; every other entry was read from R2. */
const fetchedFromUpstream = new WeakSet<ManifestEntry>();

/** Where an entry's bytes came from, for the X-FastReg-Source header. */
export function manifestSource(entry: ManifestEntry): 'r2' | 'upstream' {
  return fetchedFromUpstream.has(entry) ? 'upstream' : 'r2';
}

/**
 * A manifest by tag or digest. By digest: cached forever, verified on fetch. By tag: fresh for
 * tagTtlSeconds, then revalidated with HEAD; served stale if the upstream fails. Concurrent requests
 * share one upstream fetch through the manifest's lease, across isolates too. The upstream is always
 * asked with the full MANIFEST_ACCEPT set: what is cached under a tag is shared by every client, so one
 * client's narrower Accept must not decide it (an index stored as a single-platform manifest).
 */
export function getManifest(options: ManifestCacheOptions, reference: Reference): Promise<ManifestEntry> {
  const load = loadManifest(options, reference);
  options.waitUntil(load.catch(() => undefined));
  return load;
}

async function loadManifest(options: ManifestCacheOptions, reference: Reference): Promise<ManifestEntry> {
  const { bucket, upstream } = options;
  const key =
    reference.kind === 'tag'
      ? manifestTagKey(upstream.registry, upstream.repository, reference.tag)
      : manifestDigestKey(upstream.registry, upstream.repository, reference.digest);
  const cached = await readEntry(bucket, key);
  if (cached && (reference.kind === 'digest' || Date.now() - cached.fetchedAt < options.tagTtlSeconds * 1000)) {
    stats.manifests.hits += 1;
    return cached;
  }
  if (!cached) {
    stats.manifests.misses += 1;
    return fetchShared(options, reference, key);
  }
  return revalidate(options, reference, cached, key);
}

/** HEAD is free against Docker Hub's quota: only GET when the tag moved. */
async function revalidate(options: ManifestCacheOptions, reference: Reference, cached: ManifestEntry, key: string): Promise<ManifestEntry> {
  const { upstream } = options;
  try {
    const head = await upstream.client.request({
      method: 'HEAD',
      path: manifestPath(upstream.repository, reference),
      scope: pullScope(upstream.repository),
      accept: MANIFEST_ACCEPT,
      notFound: 'MANIFEST_UNKNOWN',
      what: manifestWhat(upstream, reference),
    });
    head.response.body?.cancel().catch(() => undefined);
    stats.manifests.revalidated += 1;
    if (head.response.headers.get('Docker-Content-Digest') === cached.digest) {
      const refreshed = { ...cached, fetchedAt: Date.now() };
      await writeEntry(options.bucket, key, refreshed);
      stats.manifests.refreshed += 1;
      return refreshed;
    }
    return await fetchShared(options, reference, key, head.response.headers.get('Docker-Content-Digest') ?? undefined);
  } catch (err) {
    // A 404 is the upstream's answer, not a failure: the tag is gone.
    if (err instanceof OciError && err.code === 'MANIFEST_UNKNOWN') throw err;
    const reason = err instanceof Error ? err.message : String(err);
    console.warn(`serving stale manifest ${upstream.registry}/${upstream.repository}:${reference.kind === 'tag' ? reference.tag : reference.digest}: ${reason}`);
    stats.manifests.staleServed += 1;
    return cached;
  }
}

/**
 * fetchAndStore under the manifest's lease: one request fetches, the others wait for its R2 write.
 * An entry that was already stored counts if it is fresh, if it has the digest the upstream just
 * announced (a concurrent revalidation stored it), or if it was stored while we waited.
 */
function fetchShared(options: ManifestCacheOptions, reference: Reference, key: string, announcedDigest?: string): Promise<ManifestEntry> {
  const { leases, upstream, bucket } = options;
  if (!leases) return fetchAndStore(options, reference);
  const ref = reference.kind === 'tag' ? reference.tag : reference.digest;
  return leases.coalesce<ManifestEntry>({
    key: `manifest:${upstream.registry}/${upstream.repository}@${ref}`,
    fill: async () => {
      const entry = await fetchAndStore(options, reference);
      return { value: entry, stored: Promise.resolve({ size: entry.body.byteLength, location: key }) };
    },
    readStored: async (_stored, { waited }) => {
      const entry = await readEntry(bucket, key);
      if (!entry) return undefined;
      const fresh = reference.kind === 'digest' || Date.now() - entry.fetchedAt < options.tagTtlSeconds * 1000;
      return waited || fresh || entry.digest === announcedDigest ? entry : undefined;
    },
    waitUntil: options.waitUntil,
    observe: leaseObserver('manifest'),
  });
}

async function fetchAndStore(options: ManifestCacheOptions, reference: Reference): Promise<ManifestEntry> {
  const { upstream, bucket } = options;
  const what = manifestWhat(upstream, reference);
  const res = await upstream.client.request({
    method: 'GET',
    path: manifestPath(upstream.repository, reference),
    scope: pullScope(upstream.repository),
    accept: MANIFEST_ACCEPT,
    notFound: 'MANIFEST_UNKNOWN',
    what,
  });
  const contentType = res.response.headers.get('Content-Type');
  const mediaType = declaredManifestType(contentType);
  if (mediaType === undefined) {
    res.abort(new Error('not a manifest media type'));
    throw new OciError('UPSTREAM_FAILED', `upstream ${upstream.registry} sent ${what} as ${contentType === null ? 'no Content-Type' : `"${contentType.slice(0, 100)}"`}, not an OCI or Docker manifest media type`, {
      detail: { contentType },
    });
  }
  const body = await readSmallBody(res, upstream.registry, MAX_MANIFEST_BYTES, upstream.client.timeoutMs);
  const expected = reference.kind === 'digest' ? reference.digest : res.response.headers.get('Docker-Content-Digest');
  const algorithm = reference.kind === 'digest' ? parseDigest(reference.digest).algorithm : 'sha256';
  const actual = await digestOf(body, algorithm);
  // By digest the content must hash to the request; by tag, to what the upstream says it sent.
  if (expected && expected.startsWith(`${algorithm}:`) && expected !== actual) {
    localMetrics.add('fastreg_digest_failures_total', { source: 'upstream' });
    throw new OciError('UPSTREAM_FAILED', `upstream ${upstream.registry} sent a manifest for ${what} whose digest ${actual} does not match ${expected}`, {
      detail: { expected, actual },
    });
  }
  const entry: ManifestEntry = { body, mediaType, digest: actual, fetchedAt: Date.now() };
  const writes = [writeEntry(bucket, manifestDigestKey(upstream.registry, upstream.repository, actual), entry)];
  if (reference.kind === 'tag') writes.push(writeEntry(bucket, manifestTagKey(upstream.registry, upstream.repository, reference.tag), entry));
  try {
    await Promise.all(writes);
  } catch (err) {
    // The manifest was fetched and verified: serve it. Waiters on the lease find nothing in R2 and fetch again.
    console.warn(`manifest ${what} was served but not cached: ${err instanceof Error ? err.message : String(err)}`);
  }
  fetchedFromUpstream.add(entry);
  return entry;
}

async function readEntry(bucket: R2Bucket, key: string): Promise<ManifestEntry | undefined> {
  const object = await bucket.get(key);
  if (!object) return undefined;
  const body = new Uint8Array(await object.arrayBuffer());
  const meta = object.customMetadata ?? {};
  // An entry cached under another type (by an earlier version) is fetched again, and refused if still so.
  const mediaType = declaredManifestType(meta.mediaType ?? null);
  if (!meta.digest || mediaType === undefined) return undefined;
  return { body, mediaType, digest: meta.digest, fetchedAt: Number(meta.fetchedAt ?? 0) };
}

function writeEntry(bucket: R2Bucket, key: string, entry: ManifestEntry): Promise<unknown> {
  return bucket.put(key, entry.body, {
    httpMetadata: { contentType: entry.mediaType },
    customMetadata: { mediaType: entry.mediaType, digest: entry.digest, fetchedAt: String(entry.fetchedAt) },
  });
}

export function manifestPath(repository: string, reference: Reference): string {
  return `/v2/${repository}/manifests/${reference.kind === 'tag' ? reference.tag : reference.digest}`;
}

function manifestWhat(upstream: SelectedUpstream, reference: Reference): string {
  return `manifest ${upstream.repository}${reference.kind === 'tag' ? `:${reference.tag}` : `@${reference.digest}`}`;
}
