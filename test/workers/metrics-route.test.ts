import { SELF } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { parsePrometheus, sumSamples, type ParsedSample } from '../../workers/shared/metrics-wire/parse.js';
import { addBlob, addManifest, fetchWithEnv, uniqueName, upstreamLog } from './registry-helpers.js';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

async function scrape(): Promise<{ text: string; samples: ParsedSample[]; contentType: string | null }> {
  const res = await SELF.fetch('http://mirror/metrics');
  expect(res.status).toBe(200);
  const text = await res.text();
  return { text, samples: parsePrometheus(text), contentType: res.headers.get('Content-Type') };
}

const requests = (samples: ParsedSample[], where: Record<string, string>) => sumSamples(samples, 'fastreg_edge_requests_total', where);

describe('GET /metrics', () => {
  it('serves Prometheus text 0.0.4 with HELP and TYPE for every family', async () => {
    const { text, contentType } = await scrape();
    expect(contentType).toBe('text/plain; version=0.0.4; charset=utf-8');
    const names = new Set(parsePrometheus(text).map((s) => s.name.replace(/_(bucket|sum|count)$/, '')));
    for (const name of names) {
      expect(text).toContain(`# HELP ${name} `);
      expect(text).toMatch(new RegExp(`# TYPE ${name} (counter|gauge|histogram)\\n`));
    }
    expect(names).toContain('fastreg_sidecars_online');
  });

  it('counts a blob miss, hits, a manifest, upstream requests and bytes avoided', async () => {
    const name = uniqueName('metrics');
    const { digest, size } = await addBlob({ text: `metrics-blob-${name}`.repeat(100) });
    const manifest = { schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest, size }, layers: [] };
    await addManifest(`library/${name}`, 'v1', manifest, OCI_MANIFEST);
    const before = (await scrape()).samples;

    const blobUrl = `http://mirror/v2/library/${name}/blobs/${digest}`;
    expect((await (await SELF.fetch(blobUrl)).arrayBuffer()).byteLength).toBe(size);
    for (let i = 0; i < 3; i++) {
      const res = await SELF.fetch(blobUrl);
      expect(res.headers.get('X-FastReg-Source')).toBe('r2');
      await res.arrayBuffer();
    }
    const manifestRes = await SELF.fetch(`http://mirror/v2/library/${name}/manifests/v1`, { headers: { Accept: OCI_MANIFEST } });
    expect(manifestRes.status).toBe(200);
    expect(manifestRes.headers.get('X-FastReg-Source')).toBe('upstream');
    await manifestRes.arrayBuffer();
    expect((await SELF.fetch(`http://mirror/v2/library/${name}/blobs/sha256:nothex`)).status).toBe(400);

    const after = (await scrape()).samples;
    const delta = (fn: (s: ParsedSample[]) => number) => fn(after) - fn(before);
    expect(delta((s) => requests(s, { route: 'blob', status: '200', source: 'upstream' }))).toBe(1);
    expect(delta((s) => requests(s, { route: 'blob', status: '200', source: 'r2' }))).toBe(3);
    expect(delta((s) => requests(s, { route: 'manifest', status: '200', source: 'upstream' }))).toBe(1);
    expect(delta((s) => requests(s, { route: 'blob', status: '400', source: 'none' }))).toBe(1);
    expect(delta((s) => sumSamples(s, 'fastreg_edge_served_bytes_total', { source: 'r2' }))).toBe(3 * size);
    expect(delta((s) => sumSamples(s, 'fastreg_edge_served_bytes_total', { source: 'upstream' }))).toBe(size);
    expect(delta((s) => sumSamples(s, 'fastreg_upstream_bytes_avoided_total'))).toBe(3 * size);
    expect(delta((s) => sumSamples(s, 'fastreg_upstream_bytes_total', { registry: 'docker.io' }))).toBe(size);
    expect(delta((s) => sumSamples(s, 'fastreg_upstream_requests_total', { registry: 'docker.io', status: '200' }))).toBeGreaterThanOrEqual(2);
    expect(delta((s) => sumSamples(s, 'fastreg_leases_total', { outcome: 'granted', kind: 'blob' }))).toBe(1);
    expect(delta((s) => sumSamples(s, 'fastreg_edge_request_duration_seconds_count', { route: 'blob' }))).toBe(5);
    expect(sumSamples(after, 'fastreg_upstream_ratelimit_remaining', { registry: 'docker.io' })).toBeGreaterThanOrEqual(0);
    expect(after.some((s) => s.name === 'fastreg_upstream_ratelimit_remaining')).toBe(true);
  });

  it('batches deltas: 40 requests cause at most a few flushes, not one RPC each', async () => {
    const name = uniqueName('flush');
    const { digest } = await addBlob({ text: `flush-${name}` });
    const url = `http://mirror/v2/library/${name}/blobs/${digest}`;
    await (await SELF.fetch(url)).arrayBuffer();
    const before = (await scrape()).samples;
    for (let i = 0; i < 40; i++) await (await SELF.fetch(url, { method: 'HEAD' })).arrayBuffer();
    const after = (await scrape()).samples;
    expect(requests(after, { route: 'blob', status: '200' }) - requests(before, { route: 'blob', status: '200' })).toBe(40);
    const flushes = sumSamples(after, 'fastreg_edge_metrics_flushes_total') - sumSamples(before, 'fastreg_edge_metrics_flushes_total');
    // The scrape itself flushes once; the interval allows about one more per 5 s of test time.
    expect(flushes).toBeLessThanOrEqual(4);
  });

  it('GET /stats carries the summary the status page shows, consistent with /metrics', async () => {
    const res = await SELF.fetch('http://mirror/stats');
    expect(res.status).toBe(200);
    const body = (await res.json()) as { summary: { requests: { cached: number; upstream: number; hitRatio: number | null }; sidecars: { online: number } } };
    const samples = (await scrape()).samples;
    const cached = sumSamples(samples, 'fastreg_edge_requests_total', { route: /^(blob|manifest)$/, source: 'r2' });
    expect(body.summary.requests.cached).toBeLessThanOrEqual(cached);
    expect(body.summary.requests.cached).toBeGreaterThan(0);
    expect(body.summary.sidecars.online).toBe(sumSamples(samples, 'fastreg_sidecars_online'));
  });

  it('GET / serves the status page as self-contained HTML', async () => {
    const res = await SELF.fetch('http://mirror/');
    expect(res.status).toBe(200);
    expect(res.headers.get('Content-Type')).toMatch(/^text\/html/);
    const html = await res.text();
    expect(html).toContain('data-field="hit-ratio"');
    expect(html).toContain("fetch('/stats'");
    expect(html).not.toMatch(/<(script|link|img)[^>]+(src|href)=["']https?:/);
  });

  it('counts lease outcomes on the caller side: concurrent cold GETs make one grant and the rest wait', async () => {
    const name = uniqueName('leases');
    const { digest, size } = await addBlob({ size: 256 * 1024 });
    const before = (await scrape()).samples;
    const url = `http://mirror/v2/library/${name}/blobs/${digest}`;
    const sizes = await Promise.all(Array.from({ length: 8 }, async () => (await (await SELF.fetch(url)).arrayBuffer()).byteLength));
    expect(sizes).toEqual(new Array(8).fill(size));
    expect(await upstreamLog(`/v2/library/${name}/blobs/${digest}`, 'GET')).toHaveLength(1);
    const after = (await scrape()).samples;
    const leases = (outcome: string) => sumSamples(after, 'fastreg_leases_total', { outcome, kind: 'blob' }) - sumSamples(before, 'fastreg_leases_total', { outcome, kind: 'blob' });
    expect(leases('granted')).toBe(1);
    // The others waited for the holder, unless they arrived after the blob was stored (then they read R2 at once).
    expect(leases('waited')).toBeGreaterThanOrEqual(1);
    expect(leases('waited')).toBeLessThanOrEqual(7);
    expect(requests(after, { route: 'blob', status: '200' }) - requests(before, { route: 'blob', status: '200' })).toBe(8);
    expect(sumSamples(after, 'fastreg_leases_active')).toBeGreaterThanOrEqual(0);
  });

  it('follows PULL_ACCESS: with "token", /metrics, /stats and / need the bearer token', async () => {
    for (const path of ['/metrics', '/stats', '/']) {
      const denied = await fetchWithEnv(`http://mirror${path}`, { PULL_ACCESS: 'token' });
      expect(denied.status, path).toBe(401);
      expect(denied.headers.get('WWW-Authenticate')).toMatch(/^Bearer /);
      const allowed = await fetchWithEnv(`http://mirror${path}`, { PULL_ACCESS: 'token' }, { headers: { Authorization: 'Bearer test-token-0123456789abcdef' } });
      expect(allowed.status, path).toBe(200);
    }
    // The status page's guard must not leak onto other routes: /services stays as configured.
    expect((await fetchWithEnv('http://mirror/v2/', { PULL_ACCESS: 'public' })).status).toBe(200);
  });
});
