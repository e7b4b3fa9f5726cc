import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestEdge, type TestEdge } from '../helpers/edge.js';
import { commandExists } from '../helpers/processes.js';
import { startRegistry, type RunningRegistry } from '../helpers/registry.js';

// The lease's promise against a real upstream: 50 concurrent cold GETs of one blob through FastReg
// reach CNCF distribution exactly once, counted in distribution's own access log.

const CLIENTS = 50;
const BLOB_BYTES = 24 * 1024 * 1024 + 7;
const REPOSITORY = 'library/burst';

if (!commandExists('docker-registry')) {
  if (process.env.CI) throw new Error('docker-registry is not installed (.ci/run installs it)');
  console.warn('burst-real-upstream: SKIPPED: docker-registry not installed (apt-get install docker-registry)');
}

describe.skipIf(!commandExists('docker-registry'))('cold burst against a real docker-registry upstream', () => {
  let upstream: RunningRegistry;
  let edge: TestEdge;
  let digest: string;

  beforeAll(async () => {
    upstream = await startRegistry();
    digest = await pushBlob(upstream.url, REPOSITORY, randomBytes(BLOB_BYTES));
    edge = await startTestEdge({ upstream: upstream.url });
  }, 120_000);

  afterAll(async () => {
    await edge?.stop();
    await upstream?.stop();
  });

  it(`${CLIENTS} concurrent cold GETs of one blob make exactly 1 upstream GET, and every client gets the right bytes`, async () => {
    expect(upstream.count('GET', `/blobs/${digest}`)).toBe(0);
    const results = await Promise.all(
      Array.from({ length: CLIENTS }, async () => {
        const response = await fetch(`${edge.url}/v2/${REPOSITORY}/blobs/${digest}`, { signal: AbortSignal.timeout(120_000) });
        return { status: response.status, digest: await hashBody(response) };
      }),
    );
    expect(results.map((r) => r.status)).toEqual(Array(CLIENTS).fill(200));
    expect(results.map((r) => r.digest)).toEqual(Array(CLIENTS).fill(digest));
    expect(upstream.count('GET', `/blobs/${digest}`)).toBe(1);

    // Warm: served from the edge's store, the upstream is not asked again.
    const again = await fetch(`${edge.url}/v2/${REPOSITORY}/blobs/${digest}`);
    expect(await hashBody(again)).toBe(digest);
    expect(upstream.count('GET', `/blobs/${digest}`)).toBe(1);
  }, 180_000);
});

async function hashBody(response: Response): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of response.body ?? []) hash.update(chunk as Uint8Array);
  return `sha256:${hash.digest('hex')}`;
}

/** Monolithic blob upload (OCI distribution push API): POST an upload, then PUT with the digest. */
async function pushBlob(registryUrl: string, repository: string, bytes: Buffer): Promise<string> {
  const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
  const started = await fetch(`${registryUrl}/v2/${repository}/blobs/uploads/`, { method: 'POST' });
  const location = started.headers.get('Location');
  if (started.status !== 202 || !location) throw new Error(`upload start: ${started.status} ${await started.text()}`);
  const target = new URL(location, registryUrl);
  target.searchParams.set('digest', digest);
  const put = await fetch(target, {
    method: 'PUT',
    headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': String(bytes.length) },
    body: bytes,
  });
  if (put.status !== 201) throw new Error(`upload PUT: ${put.status} ${await put.text()}`);
  return digest;
}
