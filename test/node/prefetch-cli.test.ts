import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../scripts/edge-launcher.js';
import { MediaType } from '../../workers/shared/oci/index.js';
import type { PrefetchReport } from '../../sidecar/prefetch/prefetch.js';
import { startTestEdge, type TestEdge } from '../helpers/edge.js';
import { FakeUpstream } from '../helpers/fake-upstream.js';
import { freePort, run, type RunResult } from '../helpers/processes.js';
import { startSidecar, stopAll, waitFor, type SidecarProcess } from '../helpers/sidecar-cluster.js';

// `fastreg prefetch` as a real subprocess: a launched edge over the in-process fake upstream, and a
// real sidecar registered from 127.0.0.1, the CLI's own site, so the edge sends the CLI's blob GETs to it.

const BIN = path.join(REPO_ROOT, 'bin', 'fastreg.js');

let fake: FakeUpstream;
let edge: TestEdge;
let sidecar: SidecarProcess;

interface Blob {
  digest: string;
  size: number;
}

interface TestImage {
  digest: string;
  blobs: Blob[];
}

beforeAll(async () => {
  fake = new FakeUpstream();
  await fake.start();
  edge = await startTestEdge({ upstream: fake.url, vars: { SIDECAR_TABLE_TTL_MS: '250' } });
  sidecar = await startSidecar({
    name: 'prefetch-site',
    args: ['--edge', edge.url, '--heartbeat-interval', '1000'],
    env: { FASTREG_TOKEN: edge.token },
  });
  await waitFor(async () => (await edgeBlobStatus()) === 307, { timeoutMs: 30_000, what: "the edge redirecting this site's blob GETs" });
}, 180_000);

afterAll(async () => {
  await stopAll([sidecar]);
  await edge?.stop();
  await fake?.stop();
}, 60_000);

/** The status of an edge blob GET from this host, without following it. */
async function edgeBlobStatus(): Promise<number> {
  const digest = fake.addBlob(Buffer.from('redirect probe'));
  const response = await fetch(`${edge.url}/v2/library/probe/blobs/${digest}`, { redirect: 'manual', signal: AbortSignal.timeout(5_000) });
  await response.body?.cancel();
  return response.status;
}

function addManifest(name: string, tag: string | undefined, layerSizes: number[], platform = { os: 'linux', architecture: 'amd64' }): TestImage & { size: number } {
  const config = Buffer.from(JSON.stringify({ ...platform, rootfs: { type: 'layers', diff_ids: [] }, nonce: randomBytes(8).toString('hex') }));
  const blobs: Blob[] = [{ digest: fake.addBlob(config), size: config.length }];
  for (const size of layerSizes) blobs.push({ digest: fake.addBlob(randomBytes(size)), size });
  const [configBlob, ...layers] = blobs.map((blob, i) => ({ mediaType: i === 0 ? 'application/vnd.oci.image.config.v1+json' : 'application/vnd.oci.image.layer.v1.tar+gzip', ...blob }));
  const manifest = { schemaVersion: 2, mediaType: MediaType.OciManifest, config: configBlob, layers };
  const digest = fake.addManifest(name, tag, manifest, MediaType.OciManifest);
  return { digest, blobs, size: Buffer.byteLength(JSON.stringify(manifest)) };
}

function prefetch(args: string[], env: Record<string, string> = {}): Promise<RunResult> {
  const childEnv: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1' };
  for (const key of ['FASTREG_EDGE', 'FASTREG_SIDECAR', 'FASTREG_TOKEN']) delete childEnv[key];
  return run(process.execPath, [BIN, 'prefetch', ...args], { cwd: REPO_ROOT, env: { ...childEnv, ...env }, timeoutMs: 120_000 });
}

async function prefetchJson(args: string[]): Promise<PrefetchReport> {
  const result = await prefetch([...args, '--edge', edge.url, '--json']);
  expect(result.code, result.stderr).toBe(0);
  return JSON.parse(result.stdout) as PrefetchReport;
}

const sum = (blobs: Blob[]) => blobs.reduce((total, blob) => total + blob.size, 0);
const upstreamBlobGets = (blobs: Blob[]) => blobs.reduce((total, blob) => total + fake.count('GET', `/blobs/${blob.digest}`), 0);

async function sidecarHolds(digest: string): Promise<string | null> {
  const response = await fetch(`${sidecar.url}/blobs/${digest}`, { method: 'HEAD', signal: AbortSignal.timeout(10_000) });
  return response.status === 200 ? response.headers.get('x-fastreg-source') : `status ${response.status}`;
}

describe('fastreg prefetch', () => {
  let single: TestImage;

  it('warms the sidecar with every blob of a multi-layer image, through the edge', async () => {
    single = addManifest('library/prefetch-app', '1.0', [700 * 1024, 300 * 1024, 90 * 1024]);
    const storedBefore = await sidecar.metric('fastreg_sidecar_store_bytes');

    const result = await prefetch(['prefetch-app:1.0', '--edge', edge.url]);
    expect(result.code, result.stderr).toBe(0);
    // Not a TTY: one line per finished blob on stderr; the summary table on stdout.
    expect(result.stderr.trim().split('\n')).toHaveLength(4);
    expect(result.stdout).toContain(`library/prefetch-app:1.0: ${single.digest}`);
    expect(result.stdout).toMatch(new RegExp(`total\\s*│\\s*4\\s*│.*\\(${sum(single.blobs)} bytes\\)`));
    expect(result.stdout).toContain(sidecar.url);

    // The sidecar now holds every blob, read once from the upstream, and serves it from its store.
    for (const blob of single.blobs) expect(await sidecarHolds(blob.digest)).toBe('local');
    expect(upstreamBlobGets(single.blobs)).toBe(single.blobs.length);
    expect(await sidecar.metric('fastreg_sidecar_store_bytes')).toBe(storedBefore + sum(single.blobs));
  });

  it('reports every byte from the sidecar store the second time, with no new upstream blob GET', async () => {
    const report = await prefetchJson([`docker.io/library/prefetch-app@${single.digest}`]);
    expect(report.manifest.digest).toBe(single.digest);
    expect(report.ns).toBe('docker.io');
    expect(report.blobs).toBe(single.blobs.length);
    expect(report.bytes).toBe(sum(single.blobs));
    expect(report.sources).toEqual({ 'sidecar/local': { blobs: single.blobs.length, bytes: sum(single.blobs) } });
    expect(report.sidecars).toEqual({ [sidecar.url]: { blobs: single.blobs.length, bytes: sum(single.blobs) } });
    expect(report.notWarmed.blobs).toBe(0);
    expect(upstreamBlobGets(single.blobs)).toBe(single.blobs.length);
  });

  it('picks one platform of an index, and only its blobs', async () => {
    const amd64 = addManifest('library/prefetch-multi', undefined, [400 * 1024, 20 * 1024]);
    const arm64 = addManifest('library/prefetch-multi', undefined, [500 * 1024, 30 * 1024, 10 * 1024], { os: 'linux', architecture: 'arm64' });
    const entry = (image: typeof amd64, platform: Record<string, string>) => ({ mediaType: MediaType.OciManifest, digest: image.digest, size: image.size, platform });
    const index = {
      schemaVersion: 2,
      mediaType: MediaType.OciIndex,
      manifests: [
        entry(amd64, { os: 'linux', architecture: 'amd64' }),
        entry(arm64, { os: 'linux', architecture: 'arm64', variant: 'v8' }),
        // A buildx attestation: never a platform to pull.
        entry(amd64, { os: 'unknown', architecture: 'unknown' }),
      ],
    };
    const indexDigest = fake.addManifest('library/prefetch-multi', 'v2', index, MediaType.OciIndex);

    const report = await prefetchJson(['prefetch-multi:v2', '--platform', 'linux/arm64']);
    expect(report.manifest).toEqual({ digest: indexDigest, mediaType: MediaType.OciIndex });
    expect(report.platforms).toEqual(['linux/arm64/v8']);
    expect(report.bytes).toBe(sum(arm64.blobs));
    expect(report.sources).toEqual({ 'sidecar/edge': { blobs: arm64.blobs.length, bytes: sum(arm64.blobs) } });
    for (const blob of arm64.blobs) expect(await sidecarHolds(blob.digest)).toBe('local');
    expect(upstreamBlobGets(amd64.blobs)).toBe(0);

    // --all-platforms adds the other platform; the arm64 blobs come from the sidecar's store.
    const all = await prefetchJson(['prefetch-multi:v2', '--all-platforms', '--concurrency', '2']);
    expect(all.platforms).toEqual(['linux/amd64', 'linux/arm64/v8']);
    expect(all.sources).toEqual({
      'sidecar/edge': { blobs: amd64.blobs.length, bytes: sum(amd64.blobs) },
      'sidecar/local': { blobs: arm64.blobs.length, bytes: sum(arm64.blobs) },
    });
  });

  it('warms a named sidecar directly with --sidecar, and rejects one that sends wrong bytes', async () => {
    const report = await prefetchJson(['prefetch-app:1.0', '--sidecar', sidecar.url]);
    expect(report.sources).toEqual({ 'sidecar/local': { blobs: single.blobs.length, bytes: sum(single.blobs) } });
    expect(Object.keys(report.sidecars)).toEqual([sidecar.url]);

    // A "sidecar" that answers every blob with the right number of wrong bytes.
    const liar: Server = createServer((req, res) => {
      const size = single.blobs.find((blob) => req.url?.includes(blob.digest))?.size ?? 0;
      res.writeHead(200, { 'Content-Length': size, 'X-FastReg-Source': 'local' }).end(Buffer.alloc(size, 7));
    });
    await new Promise<void>((resolve) => liar.listen(0, '127.0.0.1', resolve));
    try {
      const liarUrl = `http://127.0.0.1:${(liar.address() as AddressInfo).port}`;
      const result = await prefetch(['prefetch-app:1.0', '--edge', edge.url], { FASTREG_SIDECAR: liarUrl });
      expect(result.code).toBe(1);
      expect(result.stdout).toBe('');
      const lines = result.stderr.trim().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(new RegExp(`^fastreg: DIGEST_INVALID: the sidecar at ${liarUrl} sent bytes with digest sha256:[0-9a-f]{64} for blob sha256:`));
    } finally {
      liar.closeAllConnections();
      await new Promise<void>((resolve) => liar.close(() => resolve()));
    }
  });

  it('fails with one line and exit code 1 for an unknown image, a bad reference, or an edge that is down', async () => {
    const unknown = await prefetch(['library/no-such-image:1', '--edge', edge.url]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr.trim().split('\n')).toHaveLength(1);
    expect(unknown.stderr).toMatch(/^fastreg: the edge at .* answered GET manifest library\/no-such-image:1 with 404 MANIFEST_UNKNOWN/);

    const bad = await prefetch(['Not//Valid:tag', '--edge', edge.url]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain("error: command-argument value 'Not//Valid:tag' is invalid for argument 'image'");
    expect(bad.stderr).toContain('(run with --help for usage)');

    const port = await freePort();
    const down = await prefetch(['prefetch-app:1.0'], { FASTREG_EDGE: `http://127.0.0.1:${port}` });
    expect(down.code).toBe(1);
    expect(down.stderr.trim()).toBe(`fastreg: cannot reach the edge at http://127.0.0.1:${port}: ECONNREFUSED`);
  });

  it('says no sidecar was warmed when the edge serves the blobs itself (no live sidecar in this site)', async () => {
    await sidecar.stop();
    await waitFor(async () => (await edgeBlobStatus()) === 200, { timeoutMs: 30_000, what: 'the edge serving blobs itself once the sidecar is gone' });

    const report = await prefetchJson(['prefetch-app:1.0']);
    expect(report.bytes).toBe(sum(single.blobs));
    expect(report.sources).toEqual({ 'edge/r2': { blobs: single.blobs.length, bytes: sum(single.blobs) } });
    expect(report.sidecars).toEqual({});
    expect(report.notWarmed).toEqual({ blobs: single.blobs.length, bytes: sum(single.blobs) });
    expect(upstreamBlobGets(single.blobs)).toBe(single.blobs.length);
  });
});
