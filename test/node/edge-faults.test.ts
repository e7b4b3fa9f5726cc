import { createHash } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startTestEdge, type TestEdge } from '../helpers/edge.js';
import { FakeUpstream } from '../helpers/fake-upstream.js';

// The launched edge (same launcher as `npm start`) against the in-process fault-injecting upstream.

const UPSTREAM_TIMEOUT_MS = 3_000;
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

let fake: FakeUpstream;
let edge: TestEdge;
let repoCounter = 0;

beforeAll(async () => {
  fake = new FakeUpstream();
  await fake.start();
  edge = await startTestEdge({
    upstream: fake.url,
    vars: { UPSTREAM_TIMEOUT_MS: String(UPSTREAM_TIMEOUT_MS), LEASE_TTL_MS: '2000', MANIFEST_TAG_TTL_SECONDS: '0' },
  });
}, 120_000);

afterAll(async () => {
  await edge?.stop();
  await fake?.stop();
}, 60_000);

beforeEach(() => {
  fake.reset();
  fake.options = {};
});

/** A fresh repository name per test, so nothing cached by one test helps another. */
function repo(): string {
  repoCounter += 1;
  return `library/fault${repoCounter}-${Date.now().toString(36)}`;
}

interface Fetched {
  status: number;
  headers: Headers;
  body?: Buffer;
  /** Set when the response body failed mid-stream. */
  bodyError?: string;
  ms: number;
}

async function get(path: string, init: RequestInit = {}): Promise<Fetched> {
  const started = Date.now();
  const response = await fetch(`${edge.url}${path}`, { ...init, signal: AbortSignal.timeout(60_000) });
  try {
    const body = Buffer.from(await response.arrayBuffer());
    return { status: response.status, headers: response.headers, body, ms: Date.now() - started };
  } catch (err) {
    return { status: response.status, headers: response.headers, bodyError: String(err), ms: Date.now() - started };
  }
}

function sha256(bytes: Buffer): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

function expectOciError(result: Fetched, code: string): void {
  expect(result.headers.get('content-type') ?? '').toMatch(/^application\/json/);
  const parsed = JSON.parse(result.body?.toString() ?? '') as { errors: { code: string; message: string }[] };
  expect(parsed.errors[0]?.code).toBe(code);
  expect(parsed.errors[0]?.message.length).toBeGreaterThan(0);
}

function expectBlob(result: Fetched, digest: string, size: number): void {
  expect(result.bodyError, 'body failed mid-stream').toBeUndefined();
  expect(result.status).toBe(200);
  expect(result.headers.get('docker-content-digest')).toBe(digest);
  expect(result.headers.get('content-type')).toBe('application/octet-stream');
  expect(Number(result.headers.get('content-length'))).toBe(size);
  expect(result.body!.length).toBe(size);
  expect(sha256(result.body!)).toBe(digest);
}

describe('edge against a faulty upstream', () => {
  it('follows a 401 Bearer challenge to the token realm, then serves the blob', async () => {
    fake.options = { auth: 'bearer' };
    const name = repo();
    const digest = fake.addRandomBlob(64 * 1024);
    const result = await get(`/v2/${name}/blobs/${digest}`);
    expectBlob(result, digest, 64 * 1024);
    expect(fake.count('GET', '/token')).toBeGreaterThanOrEqual(1);
    const authorized = fake.log.filter((entry) => entry.path.includes(`/blobs/${digest}`) && entry.authorization === 'Bearer fake-upstream-token');
    expect(authorized.length).toBeGreaterThanOrEqual(1);
  });

  it('passes a 429 through as TOOMANYREQUESTS with Retry-After', async () => {
    const name = repo();
    fake.addManifest(name, '1', { schemaVersion: 2, mediaType: OCI_MANIFEST, config: {}, layers: [] }, OCI_MANIFEST);
    fake.addFault({ match: `/v2/${name}/manifests/`, fault: { kind: 'status', status: 429, headers: { 'Retry-After': '17' } } });
    const result = await get(`/v2/${name}/manifests/1`);
    expect(result.status).toBe(429);
    expect(result.headers.get('retry-after')).toBe('17');
    expectOciError(result, 'TOOMANYREQUESTS');
  });

  it('turns an upstream 500 into a 5xx OCI error, and serves the blob once the upstream recovers', async () => {
    const name = repo();
    const digest = fake.addRandomBlob(32 * 1024);
    fake.addFault({ match: `GET /v2/${name}/blobs/`, fault: { kind: 'status', status: 500 }, times: 1 });
    const failed = await get(`/v2/${name}/blobs/${digest}`);
    expect(failed.status).toBeGreaterThanOrEqual(500);
    expectOciError(failed, 'UPSTREAM_FAILED');
    expectBlob(await get(`/v2/${name}/blobs/${digest}`), digest, 32 * 1024);
  });

  it('streams a slow upstream body completely (slower than the timeout in total, never idle that long)', async () => {
    const name = repo();
    const size = 1024 * 1024;
    const digest = fake.addRandomBlob(size);
    fake.addFault({ match: `GET /v2/${name}/blobs/`, fault: { kind: 'slow', bytesPerSecond: 256 * 1024 }, times: 1 });
    const result = await get(`/v2/${name}/blobs/${digest}`);
    expectBlob(result, digest, size);
    expect(result.ms).toBeGreaterThan(UPSTREAM_TIMEOUT_MS);
    // Stored once complete: the next GET does not go upstream.
    const upstreamGets = fake.count('GET', `/blobs/${digest}`);
    await waitForStored(name, digest);
    expectBlob(await get(`/v2/${name}/blobs/${digest}`), digest, size);
    expect(fake.count('GET', `/blobs/${digest}`)).toBe(upstreamGets);
  }, 60_000);

  it('never stores or validly serves wrong bytes for a digest', async () => {
    const name = repo();
    const size = 200 * 1024;
    const digest = fake.addRandomBlob(size);
    fake.addFault({ match: `GET /v2/${name}/blobs/`, fault: { kind: 'wrong-bytes' }, times: 1 });
    const bad = await get(`/v2/${name}/blobs/${digest}`);
    // Either an error status, or a body that breaks off: never a complete body under that digest.
    const servedAsValid = bad.status === 200 && bad.bodyError === undefined && bad.body?.length === size;
    expect(servedAsValid, `status ${bad.status}, ${bad.body?.length} bytes, error ${bad.bodyError}`).toBe(false);
    if (bad.body && bad.status === 200) expect(sha256(bad.body)).not.toBe(digest);

    await sleep(500); // let any background store settle
    const before = fake.count('GET', `/blobs/${digest}`);
    const good = await get(`/v2/${name}/blobs/${digest}`);
    expectBlob(good, digest, size);
    expect(fake.count('GET', `/blobs/${digest}`), 'the bad copy was not stored, so the upstream is asked again').toBe(before + 1);
  }, 60_000);

  it('cuts a stalled upstream body in bounded time and continues it with a Range: the client still gets the blob', async () => {
    const name = repo();
    const size = 512 * 1024;
    const digest = fake.addRandomBlob(size);
    fake.addFault({ match: `GET /v2/${name}/blobs/`, fault: { kind: 'stall' }, times: 1 });
    const stalled = await get(`/v2/${name}/blobs/${digest}`);
    expectBlob(stalled, digest, size);
    expect(stalled.ms).toBeLessThan(UPSTREAM_TIMEOUT_MS * 4 + 5_000);
    expect(fake.count('GET', `/blobs/${digest}`)).toBe(2);
  }, 60_000);

  describe('upstream down', () => {
    it('still serves cached manifests (by tag and digest) and blobs; uncached content fails fast with an OCI 5xx', async () => {
      const name = repo();
      const layer = fake.addRandomBlob(100 * 1024);
      const config = fake.addBlob(Buffer.from('{"architecture":"amd64","os":"linux"}'));
      const manifest = {
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: config, size: fake.blobs.get(config)!.length },
        layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: layer, size: 100 * 1024 }],
      };
      const manifestDigest = fake.addManifest(name, '1', manifest, OCI_MANIFEST);
      const uncached = fake.addRandomBlob(10 * 1024);

      // Warm the cache the way a client pull does.
      const byTag = await get(`/v2/${name}/manifests/1`);
      expect(byTag.status).toBe(200);
      expect(byTag.headers.get('docker-content-digest')).toBe(manifestDigest);
      expect((await get(`/v2/${name}/manifests/${manifestDigest}`)).status).toBe(200);
      expectBlob(await get(`/v2/${name}/blobs/${layer}`), layer, 100 * 1024);
      expect((await get(`/v2/${name}/blobs/${config}`)).status).toBe(200);
      await waitForStored(name, layer);

      fake.setDown(true);
      const tagWhileDown = await get(`/v2/${name}/manifests/1`);
      expect(tagWhileDown.status).toBe(200);
      expect(tagWhileDown.headers.get('docker-content-digest')).toBe(manifestDigest);
      expect(sha256(tagWhileDown.body!)).toBe(manifestDigest);
      const digestWhileDown = await get(`/v2/${name}/manifests/${manifestDigest}`);
      expect(digestWhileDown.status).toBe(200);
      expect(sha256(digestWhileDown.body!)).toBe(manifestDigest);
      expectBlob(await get(`/v2/${name}/blobs/${layer}`), layer, 100 * 1024);

      const missingBlob = await get(`/v2/${name}/blobs/${uncached}`);
      expect(missingBlob.status).toBeGreaterThanOrEqual(500);
      expect(missingBlob.ms).toBeLessThan(UPSTREAM_TIMEOUT_MS * 2 + 2_000);
      expectOciError(missingBlob, 'UPSTREAM_FAILED');

      const missingManifest = await get(`/v2/${name}/manifests/2`);
      expect(missingManifest.status).toBeGreaterThanOrEqual(500);
      expect(missingManifest.ms).toBeLessThan(UPSTREAM_TIMEOUT_MS * 2 + 2_000);
      expect(JSON.parse(missingManifest.body!.toString()).errors[0].code).toMatch(/^UPSTREAM_/);
    }, 60_000);
  });
});

/** Waits until a blob is served without the upstream (the R2 write finishes after the response). */
async function waitForStored(name: string, digest: string): Promise<void> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const upstreamHeads = fake.count('HEAD', `/blobs/${digest}`);
    const head = await fetch(`${edge.url}/v2/${name}/blobs/${digest}`, { method: 'HEAD', signal: AbortSignal.timeout(10_000) });
    // Answered without asking the upstream: it came from R2.
    if (head.status === 200 && fake.count('HEAD', `/blobs/${digest}`) === upstreamHeads) return;
    await sleep(100);
  }
  throw new Error(`${digest} was not stored by the edge within 5 s`);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
