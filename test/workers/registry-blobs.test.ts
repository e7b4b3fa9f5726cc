import { env, SELF } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { addBlob, addFault, blobKeyOf, errorCode, pieceKeyOf, fetchWithEnv, sha256, sleep, storedBlobBytes, uniqueName, upstreamLog, waitForObject } from './registry-helpers.js';

const MiB = 1024 * 1024;

async function storedBlob(options: { text: string } | { size: number }) {
  const name = uniqueName();
  const blob = await addBlob(options);
  const url = `http://mirror/v2/library/${name}/blobs/${blob.digest}`;
  const res = await SELF.fetch(url);
  expect(res.status).toBe(200);
  await res.arrayBuffer();
  expect(await waitForObject(blobKeyOf(blob.digest))).toBe(true);
  return { ...blob, name, url };
}

describe('blob miss then hit', () => {
  it('streams a miss from the upstream with the right headers, stores it, then serves it from R2', async () => {
    const name = uniqueName();
    const { digest, size } = await addBlob({ size: 300_000 });
    const url = `http://mirror/v2/library/${name}/blobs/${digest}`;

    const miss = await SELF.fetch(url);
    expect(miss.status).toBe(200);
    expect(miss.headers.get('Content-Type')).toBe('application/octet-stream');
    expect(miss.headers.get('Docker-Content-Digest')).toBe(digest);
    expect(miss.headers.get('Content-Length')).toBe(String(size));
    expect(await sha256(await miss.arrayBuffer())).toBe(digest);
    expect(await waitForObject(blobKeyOf(digest))).toBe(true);

    const hit = await SELF.fetch(url);
    expect(hit.status).toBe(200);
    expect(hit.headers.get('Content-Type')).toBe('application/octet-stream');
    expect(hit.headers.get('Content-Length')).toBe(String(size));
    expect(await sha256(await hit.arrayBuffer())).toBe(digest);
    expect(await upstreamLog(digest, 'GET')).toHaveLength(1);
  });

  it('answers HEAD without a body, from R2 when stored and from an upstream HEAD otherwise', async () => {
    const name = uniqueName();
    const { digest, size } = await addBlob({ text: `head-${name}` });
    const url = `http://mirror/v2/library/${name}/blobs/${digest}`;
    const cold = await SELF.fetch(url, { method: 'HEAD' });
    expect(cold.status).toBe(200);
    expect(cold.headers.get('Content-Length')).toBe(String(size));
    expect(cold.headers.get('Docker-Content-Digest')).toBe(digest);
    expect((await cold.arrayBuffer()).byteLength).toBe(0);
    expect(await env.BLOBS.head(blobKeyOf(digest))).toBeNull();
    expect((await upstreamLog(digest)).map((entry) => entry.method)).toEqual(['HEAD']);

    await (await SELF.fetch(url)).arrayBuffer();
    expect(await waitForObject(blobKeyOf(digest))).toBe(true);
    const warm = await SELF.fetch(url, { method: 'HEAD' });
    expect(warm.status).toBe(200);
    expect(warm.headers.get('Content-Length')).toBe(String(size));
    expect(warm.headers.get('Content-Type')).toBe('application/octet-stream');
    expect((await warm.arrayBuffer()).byteLength).toBe(0);
    expect((await upstreamLog(digest)).map((entry) => entry.method)).toEqual(['HEAD', 'GET']);
  });

  it('answers an unknown blob with BLOB_UNKNOWN (404), and HEAD of it without a body', async () => {
    const digest = `sha256:${'0'.repeat(63)}1`;
    const res = await SELF.fetch(`http://mirror/v2/library/${uniqueName()}/blobs/${digest}`);
    expect(res.status).toBe(404);
    expect(await errorCode(res)).toBe('BLOB_UNKNOWN');
    const head = await SELF.fetch(`http://mirror/v2/library/${uniqueName()}/blobs/${digest}`, { method: 'HEAD' });
    expect(head.status).toBe(404);
    expect((await head.arrayBuffer()).byteLength).toBe(0);
  });
  it('finishes storing the blob when the client disconnects mid-stream', async () => {
    const name = uniqueName();
    const { digest } = await addBlob({ size: 400_000 });
    await addFault(`GET /v2/library/${name}/blobs/`, { kind: 'slow', bytesPerSecond: 400_000 }, 1);
    const res = await SELF.fetch(`http://mirror/v2/library/${name}/blobs/${digest}`);
    const reader = res.body!.getReader();
    const first = await reader.read();
    expect(first.done).toBe(false);
    await reader.cancel();
    expect(await waitForObject(blobKeyOf(digest))).toBe(true);
    expect(await sha256((await storedBlobBytes(digest))!)).toBe(digest);
  });
});

describe('ranges', () => {
  it('serves single ranges from R2 as 206 with Content-Range', async () => {
    const text = `0123456789-range-${crypto.randomUUID()}`;
    const blob = await storedBlob({ text });
    const cases: [string, number, number][] = [
      ['bytes=0-4', 0, 4],
      ['bytes=5-', 5, text.length - 1],
      ['bytes=-6', text.length - 6, text.length - 1],
      ['bytes=3-100000', 3, text.length - 1],
    ];
    for (const [header, start, end] of cases) {
      const res = await SELF.fetch(blob.url, { headers: { Range: header } });
      expect(res.status, header).toBe(206);
      expect(res.headers.get('Content-Range')).toBe(`bytes ${start}-${end}/${text.length}`);
      expect(res.headers.get('Content-Length')).toBe(String(end - start + 1));
      expect(await res.text()).toBe(text.slice(start, end + 1));
    }
  });

  it.each(['bytes=0-1,4-5', 'bytes=9-3', 'bytes=100000-', 'bytes=-0', 'items=0-3'])('answers 416 with an OCI body for %s', async (header) => {
    const blob = await storedBlob({ text: `range-416-${crypto.randomUUID()}` });
    const res = await SELF.fetch(blob.url, { headers: { Range: header } });
    expect(res.status).toBe(416);
    expect(res.headers.get('Content-Range')).toBe(`bytes */${blob.size}`);
    expect(await errorCode(res)).toBe('RANGE_INVALID');
  });

  it('serves a range of a blob that is not stored yet and still stores the whole blob', async () => {
    const name = uniqueName();
    const { digest } = await addBlob({ size: 200_000 });
    const full = await (await fetch(`${(await import('./registry-helpers.js')).fakeUrl}/v2/x/blobs/${digest}`)).arrayBuffer();
    const res = await SELF.fetch(`http://mirror/v2/library/${name}/blobs/${digest}`, { headers: { Range: 'bytes=1000-1999' } });
    expect(res.status).toBe(206);
    expect(res.headers.get('Content-Range')).toBe('bytes 1000-1999/200000');
    expect(new Uint8Array(await res.arrayBuffer())).toEqual(new Uint8Array(full.slice(1000, 2000)));
    expect(await waitForObject(blobKeyOf(digest))).toBe(true);
    expect(await sha256((await storedBlobBytes(digest))!)).toBe(digest);
  });
});

describe('integrity', () => {
  it('never stores wrong bytes: the client stream fails, R2 stays empty, the next GET goes upstream again', async () => {
    const name = uniqueName();
    const { digest } = await addBlob({ size: 150_000 });
    const url = `http://mirror/v2/library/${name}/blobs/${digest}`;
    await addFault(`GET /v2/library/${name}/blobs/${digest}`, { kind: 'wrong-bytes' }, 1);

    const bad = await SELF.fetch(url);
    let clientGotBytes: string | undefined;
    try {
      clientGotBytes = await sha256(await bad.arrayBuffer());
    } catch {
      clientGotBytes = undefined; // the stream errored, as it should
    }
    expect(clientGotBytes).toBeUndefined();
    await sleep(300);
    expect(await env.BLOBS.head(blobKeyOf(digest))).toBeNull();

    const good = await SELF.fetch(url);
    expect(good.status).toBe(200);
    expect(await sha256(await good.arrayBuffer())).toBe(digest);
    expect(await upstreamLog(`/v2/library/${name}/blobs/${digest}`, 'GET')).toHaveLength(2);
    expect(await waitForObject(blobKeyOf(digest))).toBe(true);
  });
});

describe('upstream failures and slow bodies', () => {
  it('maps an upstream 429 to TOOMANYREQUESTS and passes Retry-After on', async () => {
    const name = uniqueName();
    const { digest } = await addBlob({ text: `429-${name}` });
    await addFault(`/v2/library/${name}/blobs/`, { kind: 'status', status: 429, headers: { 'Retry-After': '17' } }, 1);
    const res = await SELF.fetch(`http://mirror/v2/library/${name}/blobs/${digest}`);
    expect(res.status).toBe(429);
    expect(res.headers.get('Retry-After')).toBe('17');
    expect(await errorCode(res)).toBe('TOOMANYREQUESTS');
  });

  it('maps an upstream 500 to UPSTREAM_FAILED (502) with an OCI body', async () => {
    const name = uniqueName();
    const { digest } = await addBlob({ text: `500-${name}` });
    await addFault(`/v2/library/${name}/blobs/`, { kind: 'status', status: 500 }, 1);
    const res = await SELF.fetch(`http://mirror/v2/library/${name}/blobs/${digest}`);
    expect(res.status).toBe(502);
    expect(await errorCode(res)).toBe('UPSTREAM_FAILED');
  });

  it('finishes a slow body that takes longer than UPSTREAM_TIMEOUT_MS in total', async () => {
    const name = uniqueName();
    const { digest } = await addBlob({ size: 360_000 });
    await addFault(`GET /v2/library/${name}/blobs/`, { kind: 'slow', bytesPerSecond: 100_000 }, 1);
    const started = Date.now();
    const res = await SELF.fetch(`http://mirror/v2/library/${name}/blobs/${digest}`);
    expect(await sha256(await res.arrayBuffer())).toBe(digest);
    expect(Date.now() - started).toBeGreaterThan(3000); // UPSTREAM_TIMEOUT_MS in the test bindings
    expect(await waitForObject(blobKeyOf(digest))).toBe(true);
  });

  it('a stalled body is cut, not waited on: the reader takes the fill over and still gets the blob', async () => {
    const name = uniqueName();
    const { digest } = await addBlob({ size: 100_000 });
    await addFault(`GET /v2/library/${name}/blobs/`, { kind: 'stall' }, 1);
    const started = Date.now();
    const res = await SELF.fetch(`http://mirror/v2/library/${name}/blobs/${digest}`);
    expect(await sha256(await res.arrayBuffer())).toBe(digest);
    expect(Date.now() - started).toBeLessThan(15_000);
    expect(await upstreamLog(digest, 'GET')).toHaveLength(2);
    expect(await waitForObject(blobKeyOf(digest))).toBe(true);
  });

  it('answers UPSTREAM_FAILED (502) when a redirect points at an unreachable host', async () => {
    const name = uniqueName();
    const { digest } = await addBlob({ size: 1000 });
    await addFault(`GET /v2/library/${name}/blobs/`, { kind: 'status', status: 307, headers: { Location: 'http://127.0.0.1:9/' } }, 1);
    const res = await SELF.fetch(`http://mirror/v2/library/${name}/blobs/${digest}`);
    expect(res.status).toBe(502);
    expect(await errorCode(res)).toBe('UPSTREAM_FAILED');
  });
});

describe('auth and redirects', () => {
  it('answers a Bearer challenge with a token and follows the CDN redirect without Authorization', async () => {
    const name = uniqueName();
    const { digest, size } = await addBlob({ size: 50_000 });
    const { fakeUrl } = await import('./registry-helpers.js');
    const blobPath = `GET /v2/library/${name}/blobs/${digest}`;
    await addFault(
      blobPath,
      { kind: 'status', status: 401, headers: { 'WWW-Authenticate': `Bearer realm="${fakeUrl}/token",service="fake-registry",scope="repository:library/${name}:pull"` } },
      1,
    );
    await addFault(blobPath, { kind: 'status', status: 307, headers: { Location: `${fakeUrl}/cdn/${digest}` } }, 1);

    const res = await SELF.fetch(`http://mirror/v2/library/${name}/blobs/${digest}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('Content-Length')).toBe(String(size));
    expect(await sha256(await res.arrayBuffer())).toBe(digest);

    const registryLog = await upstreamLog(`/v2/library/${name}/blobs/${digest}`, 'GET');
    expect(registryLog.map((entry) => entry.authorization)).toEqual([undefined, 'Bearer fake-upstream-token']);
    const cdnLog = await upstreamLog(`/cdn/${digest}`, 'GET');
    expect(cdnLog).toHaveLength(1);
    expect(cdnLog[0]?.authorization).toBeUndefined();

    // The token is cached per scope: the next request for this repository sends it straight away.
    const other = await addBlob({ text: `second-${name}` });
    await (await SELF.fetch(`http://mirror/v2/library/${name}/blobs/${other.digest}`)).arrayBuffer();
    const next = await upstreamLog(`/v2/library/${name}/blobs/${other.digest}`, 'GET');
    expect(next.map((entry) => entry.authorization)).toEqual(['Bearer fake-upstream-token']);
  });

  it('answers a Basic challenge with UPSTREAM_CREDENTIALS', async () => {
    const name = uniqueName();
    const { digest } = await addBlob({ text: `basic-${name}` });
    await addFault(`GET /v2/library/${name}/blobs/`, { kind: 'status', status: 401, headers: { 'WWW-Authenticate': 'Basic realm="fake"' } }, 1);
    const res = await fetchWithEnv(`http://mirror/v2/library/${name}/blobs/${digest}`, {
      UPSTREAM_CREDENTIALS: JSON.stringify({ 'docker.io': { username: 'mirror', password: 's3cret' } }),
    });
    expect(res.status).toBe(200);
    expect(await sha256(await res.arrayBuffer())).toBe(digest);
    const log = await upstreamLog(`/v2/library/${name}/blobs/${digest}`, 'GET');
    expect(log.map((entry) => entry.authorization)).toEqual([undefined, `Basic ${btoa('mirror:s3cret')}`]);
  });

  it('records the upstream ratelimit-remaining in /stats', async () => {
    const name = uniqueName();
    const { digest } = await addBlob({ text: `stats-${name}` });
    await (await SELF.fetch(`http://mirror/v2/library/${name}/blobs/${digest}`)).arrayBuffer();
    const res = await SELF.fetch('http://mirror/stats');
    expect(res.status).toBe(200);
    const body = (await res.json()) as { upstreams: Record<string, { requests: number; ratelimitRemaining?: number }>; blobs: { misses: number } };
    expect(body.upstreams['docker.io']?.requests).toBeGreaterThan(0);
    expect(typeof body.upstreams['docker.io']?.ratelimitRemaining).toBe('number');
    expect(body.blobs.misses).toBeGreaterThan(0);
  });
});

describe('pieces', () => {
  it('stores a multi-piece blob as pieces plus an index, and serves whole reads, HEAD and ranges across a piece boundary', async () => {
    const name = uniqueName();
    const size = 3 * MiB + 12_345; // BLOB_PIECE_BYTES is 1 MiB in the test bindings: four pieces
    const { digest } = await addBlob({ size });
    const url = `http://mirror/v2/library/${name}/blobs/${digest}`;
    const res = await SELF.fetch(url);
    expect(res.status).toBe(200);
    expect(res.headers.get('Content-Length')).toBe(String(size));
    const bytes = new Uint8Array(await res.arrayBuffer());
    expect(await sha256(bytes)).toBe(digest);
    expect(await waitForObject(blobKeyOf(digest))).toBe(true);

    const index = await env.BLOBS.head(blobKeyOf(digest));
    expect(index?.customMetadata).toMatchObject({ layout: 'pieces', size: String(size), pieceBytes: String(MiB) });
    expect((await env.BLOBS.head(pieceKeyOf(digest, 3)))?.size).toBe(12_345);
    expect(await env.BLOBS.head(pieceKeyOf(digest, 4))).toBeNull();

    const head = await SELF.fetch(url, { method: 'HEAD' });
    expect(head.headers.get('Content-Length')).toBe(String(size));
    for (const [start, end] of [
      [MiB - 2, MiB + 1],
      [MiB - 10, 3 * MiB + 5],
      [3 * MiB, size - 1],
    ] as const) {
      const range = await SELF.fetch(url, { headers: { Range: `bytes=${start}-${end}` } });
      expect(range.status).toBe(206);
      expect(range.headers.get('Content-Range')).toBe(`bytes ${start}-${end}/${size}`);
      // Hashes, not toEqual: a deep compare of megabytes takes seconds.
      expect(await sha256(await range.arrayBuffer())).toBe(await sha256(bytes.slice(start, end + 1)));
    }
    expect(await upstreamLog(digest, 'GET')).toHaveLength(1);
  });

  it('wrong bytes in a multi-piece blob: the stream errors after the verified-free pieces, and no piece survives', async () => {
    const name = uniqueName();
    const size = 3 * MiB + 5;
    const { digest } = await addBlob({ size });
    await addFault(`GET /v2/library/${name}/blobs/${digest}`, { kind: 'wrong-bytes' }, 1);
    const res = await SELF.fetch(`http://mirror/v2/library/${name}/blobs/${digest}`);
    expect(res.status).toBe(200);
    await expect(res.arrayBuffer()).rejects.toThrow();
    await expect.poll(async () => (await env.BLOBS.list({ prefix: pieceKeyOf(digest, 0).slice(0, -1) })).objects.length, { timeout: 5_000 }).toBe(0);
    expect(await env.BLOBS.head(blobKeyOf(digest))).toBeNull();
  });

  it('still serves a blob that an earlier version stored as one object, ranges and HEAD included', async () => {
    const bytes = crypto.getRandomValues(new Uint8Array(60_000));
    const digest = await sha256(bytes);
    await env.BLOBS.put(blobKeyOf(digest), bytes);
    const url = `http://mirror/v2/library/${uniqueName()}/blobs/${digest}`;
    const res = await SELF.fetch(url);
    expect(res.status).toBe(200);
    expect(new Uint8Array(await res.arrayBuffer())).toEqual(bytes);
    const range = await SELF.fetch(url, { headers: { Range: 'bytes=100-199' } });
    expect(range.status).toBe(206);
    expect(new Uint8Array(await range.arrayBuffer())).toEqual(bytes.slice(100, 200));
    const head = await SELF.fetch(url, { method: 'HEAD' });
    expect(head.headers.get('Content-Length')).toBe('60000');
    expect(await upstreamLog(digest)).toHaveLength(0);
  });
});
