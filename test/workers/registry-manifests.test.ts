import { env, SELF } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { addFault, addManifest, errorCode, fetchWithEnv, imageManifest, sha256, uniqueName, upstreamLog } from './registry-helpers.js';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const DOCKER_V2S2 = 'application/vnd.docker.distribution.manifest.v2+json';
const DOCKER_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';

describe('manifests by tag and digest', () => {
  it('serves a manifest by tag with digest, length and media type; HEAD has no body', async () => {
    const name = uniqueName();
    const manifest = imageManifest(name);
    const digest = await addManifest(`library/${name}`, 'v1', manifest, OCI_MANIFEST);

    const res = await SELF.fetch(`http://mirror/v2/library/${name}/manifests/v1`);
    expect(res.status).toBe(200);
    const body = new Uint8Array(await res.arrayBuffer());
    expect(res.headers.get('Content-Type')).toBe(OCI_MANIFEST);
    expect(res.headers.get('Docker-Content-Digest')).toBe(digest);
    expect(res.headers.get('Content-Length')).toBe(String(body.byteLength));
    expect(await sha256(body)).toBe(digest);
    expect(JSON.parse(new TextDecoder().decode(body))).toEqual(manifest);

    const head = await SELF.fetch(`http://mirror/v2/library/${name}/manifests/v1`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('Docker-Content-Digest')).toBe(digest);
    expect(head.headers.get('Content-Type')).toBe(OCI_MANIFEST);
    expect(head.headers.get('Content-Length')).toBe(String(body.byteLength));
    expect((await head.arrayBuffer()).byteLength).toBe(0);
  });

  it.each([
    ['OCI index', OCI_INDEX, { schemaVersion: 2, mediaType: OCI_INDEX, manifests: [] }],
    ['Docker v2s2', DOCKER_V2S2, { schemaVersion: 2, mediaType: DOCKER_V2S2, config: {}, layers: [] }],
    ['Docker manifest list', DOCKER_LIST, { schemaVersion: 2, mediaType: DOCKER_LIST, manifests: [] }],
  ])('keeps the %s media type, by tag and by digest', async (_label, mediaType, manifest) => {
    const name = uniqueName();
    const digest = await addManifest(`library/${name}`, 'multi', { ...manifest, annotations: { name } }, mediaType);
    const byTag = await SELF.fetch(`http://mirror/v2/library/${name}/manifests/multi`);
    expect(byTag.headers.get('Content-Type')).toBe(mediaType);
    await byTag.arrayBuffer();
    const byDigest = await SELF.fetch(`http://mirror/v2/library/${name}/manifests/${digest}`);
    expect(byDigest.status).toBe(200);
    expect(byDigest.headers.get('Content-Type')).toBe(mediaType);
    expect(await sha256(await byDigest.arrayBuffer())).toBe(digest);
  });

  it('caches a manifest by digest forever: the second GET does not reach the upstream', async () => {
    const name = uniqueName();
    const digest = await addManifest(`library/${name}`, undefined, imageManifest(name), OCI_MANIFEST);
    for (let i = 0; i < 3; i++) {
      const res = await SELF.fetch(`http://mirror/v2/library/${name}/manifests/${digest}`);
      expect(res.status).toBe(200);
      expect(await sha256(await res.arrayBuffer())).toBe(digest);
    }
    expect(await upstreamLog(`/v2/library/${name}/manifests/${digest}`)).toHaveLength(1);
    const stored = await env.BLOBS.get(`manifests/docker.io/library/${name}/digests/${digest}`);
    expect(stored?.customMetadata).toMatchObject({ digest, mediaType: OCI_MANIFEST });
    expect(Number(stored?.customMetadata?.fetchedAt)).toBeGreaterThan(0);
    await stored?.arrayBuffer();
  });

  it('adds library/ to single-segment Docker Hub names', async () => {
    const name = uniqueName();
    const digest = await addManifest(`library/${name}`, 'latest', imageManifest(name), OCI_MANIFEST);
    const res = await SELF.fetch(`http://mirror/v2/${name}/manifests/latest`);
    expect(res.status).toBe(200);
    expect(res.headers.get('Docker-Content-Digest')).toBe(digest);
    await res.arrayBuffer();
    expect(await upstreamLog(`/v2/library/${name}/manifests/latest`, 'GET')).toHaveLength(1);
  });

  it('chooses the upstream with ?ns= (no library/ outside Docker Hub) and rejects unknown registries', async () => {
    const name = uniqueName();
    const digest = await addManifest(name, 'v2', imageManifest(name), OCI_MANIFEST);
    const viaGhcr = await SELF.fetch(`http://mirror/v2/${name}/manifests/v2?ns=ghcr.io`);
    expect(viaGhcr.status).toBe(200);
    expect(viaGhcr.headers.get('Docker-Content-Digest')).toBe(digest);
    await viaGhcr.arrayBuffer();

    const viaDockerHub = await SELF.fetch(`http://mirror/v2/${name}/manifests/v2?ns=docker.io`);
    expect(viaDockerHub.status).toBe(404);
    expect(await errorCode(viaDockerHub)).toBe('MANIFEST_UNKNOWN');

    const unknown = await SELF.fetch(`http://mirror/v2/${name}/manifests/v2?ns=quay.example.com`);
    expect(unknown.status).toBe(404);
    expect(await errorCode(unknown)).toBe('NAME_UNKNOWN');

    const invalid = await SELF.fetch(`http://mirror/v2/${name}/manifests/v2?ns=${encodeURIComponent('evil/host')}`);
    expect(invalid.status).toBe(400);
    expect(await errorCode(invalid)).toBe('INVALID_REQUEST');
  });
});

describe('tag TTL, HEAD revalidation and stale serving', () => {
  const noTtl = { MANIFEST_TAG_TTL_SECONDS: '0' };

  it('serves within the TTL without asking the upstream', async () => {
    const name = uniqueName();
    await addManifest(`library/${name}`, 'ttl', imageManifest(name), OCI_MANIFEST);
    for (let i = 0; i < 3; i++) await (await SELF.fetch(`http://mirror/v2/library/${name}/manifests/ttl`)).arrayBuffer();
    const log = await upstreamLog(`/v2/library/${name}/manifests/ttl`);
    expect(log.map((entry) => entry.method)).toEqual(['GET']);
  });

  it('revalidates an expired tag with HEAD and GETs only when the tag moved', async () => {
    const name = uniqueName();
    const url = `http://mirror/v2/library/${name}/manifests/moving`;
    const first = await addManifest(`library/${name}`, 'moving', imageManifest(`${name}-1`), OCI_MANIFEST);
    expect((await fetchWithEnv(url, noTtl)).headers.get('Docker-Content-Digest')).toBe(first);
    expect((await fetchWithEnv(url, noTtl)).headers.get('Docker-Content-Digest')).toBe(first);
    let log = await upstreamLog(`/v2/library/${name}/manifests/moving`);
    expect(log.map((entry) => entry.method)).toEqual(['GET', 'HEAD']);

    const second = await addManifest(`library/${name}`, 'moving', imageManifest(`${name}-2`), OCI_MANIFEST);
    const moved = await fetchWithEnv(url, noTtl);
    expect(moved.headers.get('Docker-Content-Digest')).toBe(second);
    expect(await sha256(await moved.arrayBuffer())).toBe(second);
    log = await upstreamLog(`/v2/library/${name}/manifests/moving`);
    expect(log.map((entry) => entry.method)).toEqual(['GET', 'HEAD', 'HEAD', 'GET']);
  });

  it.each([
    ['a 503', { kind: 'status', status: 503 }],
    ['a 429', { kind: 'status', status: 429, headers: { 'Retry-After': '30' } }],
    ['a dropped connection', { kind: 'reset' }],
  ])('serves the stale manifest when revalidation gets %s, and counts it', async (_label, fault) => {
    const name = uniqueName();
    const url = `http://mirror/v2/library/${name}/manifests/stale`;
    const digest = await addManifest(`library/${name}`, 'stale', imageManifest(name), OCI_MANIFEST);
    expect((await fetchWithEnv(url, noTtl)).status).toBe(200);
    await addFault(`/v2/library/${name}/manifests/stale`, fault, 1);
    const before = (await (await SELF.fetch('http://mirror/stats')).json()) as { manifests: { staleServed: number } };
    const res = await fetchWithEnv(url, noTtl);
    expect(res.status).toBe(200);
    expect(res.headers.get('Docker-Content-Digest')).toBe(digest);
    expect(await sha256(await res.arrayBuffer())).toBe(digest);
    const after = (await (await SELF.fetch('http://mirror/stats')).json()) as { manifests: { staleServed: number } };
    expect(after.manifests.staleServed).toBe(before.manifests.staleServed + 1);
  });

  it('does not serve stale when the upstream says the tag is gone (404)', async () => {
    const name = uniqueName();
    const url = `http://mirror/v2/library/${name}/manifests/gone`;
    await addManifest(`library/${name}`, 'gone', imageManifest(name), OCI_MANIFEST);
    expect((await fetchWithEnv(url, noTtl)).status).toBe(200);
    await addFault(`HEAD /v2/library/${name}/manifests/gone`, { kind: 'status', status: 404 }, 1);
    const res = await fetchWithEnv(url, noTtl);
    expect(res.status).toBe(404);
    expect(await errorCode(res)).toBe('MANIFEST_UNKNOWN');
  });
});

describe('manifest integrity and coalescing', () => {
  it('never stores a manifest fetched by digest whose bytes do not match', async () => {
    const name = uniqueName();
    const digest = await addManifest(`library/${name}`, undefined, imageManifest(name), OCI_MANIFEST);
    await addFault(`GET /v2/library/${name}/manifests/${digest}`, { kind: 'wrong-bytes' }, 1);
    const bad = await SELF.fetch(`http://mirror/v2/library/${name}/manifests/${digest}`);
    expect(bad.status).toBe(502);
    expect(await errorCode(bad)).toBe('UPSTREAM_FAILED');
    expect(await env.BLOBS.head(`manifests/docker.io/library/${name}/digests/${digest}`)).toBeNull();

    const good = await SELF.fetch(`http://mirror/v2/library/${name}/manifests/${digest}`);
    expect(good.status).toBe(200);
    expect(await sha256(await good.arrayBuffer())).toBe(digest);
  });

  it('shares one upstream GET among concurrent requests for the same tag', async () => {
    const name = uniqueName();
    const digest = await addManifest(`library/${name}`, 'herd', imageManifest(name), OCI_MANIFEST);
    const responses = await Promise.all(
      Array.from({ length: 6 }, () => SELF.fetch(`http://mirror/v2/library/${name}/manifests/herd`)),
    );
    for (const res of responses) {
      expect(res.status).toBe(200);
      expect(await sha256(await res.arrayBuffer())).toBe(digest);
    }
    expect(await upstreamLog(`/v2/library/${name}/manifests/herd`, 'GET')).toHaveLength(1);
  });
});

describe('manifest media types', () => {
  it.each([
    ['text/html', 'text/html; charset=utf-8'],
    ['application/json', 'application/json'],
    ['no Content-Type', ''],
  ])('refuses an upstream manifest sent as %s (502 UPSTREAM_FAILED) and caches nothing', async (_label, contentType) => {
    const name = uniqueName();
    // The body even names a manifest media type: the upstream's Content-Type is what counts.
    const digest = await addManifest(`library/${name}`, 'v1', imageManifest(name), contentType);
    for (const reference of ['v1', digest]) {
      const res = await SELF.fetch(`http://mirror/v2/library/${name}/manifests/${reference}`);
      expect(res.status).toBe(502);
      expect(res.headers.get('Content-Type')).toMatch(/^application\/json/);
      expect(await errorCode(res)).toBe('UPSTREAM_FAILED');
    }
    expect(await upstreamLog(`/v2/library/${name}/manifests/`, 'GET')).toHaveLength(2);
    expect(await env.BLOBS.head(`manifests/docker.io/library/${name}/tags/v1`)).toBeNull();
    expect(await env.BLOBS.head(`manifests/docker.io/library/${name}/digests/${digest}`)).toBeNull();
  });

  it('takes the media type case-insensitively and without its parameters', async () => {
    const name = uniqueName();
    await addManifest(`library/${name}`, 'v1', imageManifest(name), 'Application/VND.oci.image.manifest.v1+json; charset=utf-8');
    const res = await SELF.fetch(`http://mirror/v2/library/${name}/manifests/v1`);
    expect(res.status).toBe(200);
    expect(res.headers.get('Content-Type')).toBe(OCI_MANIFEST);
    await res.arrayBuffer();
  });

  it('an entry cached under another media type (by an earlier version) is fetched again', async () => {
    const name = uniqueName();
    const manifest = imageManifest(name);
    const digest = await addManifest(`library/${name}`, undefined, manifest, OCI_MANIFEST);
    await env.BLOBS.put(`manifests/docker.io/library/${name}/digests/${digest}`, JSON.stringify(manifest), {
      customMetadata: { mediaType: 'text/html', digest, fetchedAt: String(Date.now()) },
    });
    const res = await SELF.fetch(`http://mirror/v2/library/${name}/manifests/${digest}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('Content-Type')).toBe(OCI_MANIFEST);
    expect(await sha256(await res.arrayBuffer())).toBe(digest);
    expect(await upstreamLog(`/v2/library/${name}/manifests/${digest}`, 'GET')).toHaveLength(1);
  });
});
