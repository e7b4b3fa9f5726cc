import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startContainerd, type RunningContainerd } from '../helpers/containerd.js';
import { startDocker, type RunningDocker } from '../helpers/docker.js';
import { startTestEdge, type TestEdge } from '../helpers/edge.js';
import { hostPlatform, offlineProxyEnv, registryDigests, type ImageDigests } from '../helpers/images.js';
import { commandExists, makeTempDir, runOk, waitUntil } from '../helpers/processes.js';
import { startRegistry, type RunningRegistry } from '../helpers/registry.js';
import { publishTestImages, type TestImageRefs } from '../helpers/test-images.js';

// Real clients (skopeo, Docker engine, containerd) pull through FastReg, launched exactly as
// `npm start` launches it, from a real upstream (CNCF distribution). Every digest must match.

const BIG_LAYER_BYTES = 100 * 1024 * 1024 + 12_345;
const missing = ['docker-registry', 'skopeo'].filter((command) => !commandExists(command));
const isRoot = process.getuid?.() === 0;
const dockerSkip = !commandExists('dockerd') ? 'dockerd not installed (apt-get install docker.io)' : !isRoot ? 'dockerd needs root' : undefined;
const containerdSkip = !commandExists('containerd') || !commandExists('ctr') ? 'containerd/ctr not installed (apt-get install containerd)' : !isRoot ? 'containerd needs root' : undefined;
const skipped = [
  ...(missing.length ? [`not installed: ${missing.join(', ')} (apt-get install docker-registry skopeo docker.io containerd)`] : []),
  ...(dockerSkip ? [`Docker engine: ${dockerSkip}`] : []),
  ...(containerdSkip ? [`containerd: ${containerdSkip}`] : []),
];
// CI installs every client (.ci/run), so there a missing one is a broken install, not a reason to skip.
if (skipped.length && process.env.CI) throw new Error(`real-clients cannot run in CI: ${skipped.join('; ')}`);
for (const reason of skipped) console.warn(`real-clients: SKIPPED: ${reason}`);

describe.skipIf(missing.length > 0)('real clients through FastReg', () => {
  let upstream: RunningRegistry;
  let edge: TestEdge;
  let refs: TestImageRefs;
  let work: { dir: string; remove(): void };
  const expected = new Map<string, ImageDigests>();

  beforeAll(async () => {
    work = makeTempDir('real-clients');
    upstream = await startRegistry();
    refs = await publishTestImages(work.dir, upstream.hostPort, { bigLayerBytes: BIG_LAYER_BYTES });
    for (const ref of Object.values(refs) as string[]) {
      const [name, tag] = ref.split(':') as [string, string];
      expected.set(ref, await registryDigests(upstream.url, name, tag));
    }
    edge = await startTestEdge({ upstream: upstream.url });
  }, 300_000);

  afterAll(async () => {
    await edge?.stop();
    await upstream?.stop();
    work?.remove();
  }, 60_000);

  const edgeHost = () => new URL(edge.url).host;

  describe('skopeo', () => {
    it.each([
      ['OCI image', 'oci' as const, false],
      ['multi-arch index', 'multi' as const, true],
      ['image with a 100 MB layer', 'big' as const, false],
    ])('copies the %s with identical digests', async (_label, kind, all) => {
      const ref = refs[kind]!;
      const want = expected.get(ref)!;
      const out = path.join(work.dir, `skopeo-${kind}`);
      const args = ['copy', '--quiet', '--src-tls-verify=false', '--preserve-digests', ...(all ? ['--all'] : [])];
      await runOk('skopeo', [...args, `docker://${edgeHost()}/${ref}`, `oci:${out}:1`], { env: { ...process.env, ...offlineProxyEnv() }, timeoutMs: 240_000 });

      const index = JSON.parse(readFileSync(path.join(out, 'index.json'), 'utf8')) as { manifests: { digest: string }[] };
      expect(index.manifests.map((m) => m.digest)).toEqual([want.digest]);
      for (const digest of [...want.manifests, ...want.blobs]) {
        expect(existsSync(path.join(out, 'blobs', 'sha256', digest.slice('sha256:'.length))), `${ref}: ${digest} missing in skopeo's copy`).toBe(true);
      }
      // The mirror serves the same manifest bytes as the upstream, by tag and by digest.
      const [name, tag] = ref.split(':') as [string, string];
      expect(await registryDigests(edge.url, name, tag)).toEqual(want);
    }, 300_000);

    it('copies the Docker schema-2 image byte for byte', async () => {
      const ref = refs.docker;
      const want = expected.get(ref)!;
      expect(want.mediaType).toBe('application/vnd.docker.distribution.manifest.v2+json');
      const out = path.join(work.dir, 'skopeo-docker');
      await runOk('skopeo', ['copy', '--quiet', '--src-tls-verify=false', `docker://${edgeHost()}/${ref}`, `dir:${out}`], {
        env: { ...process.env, ...offlineProxyEnv() },
        timeoutMs: 120_000,
      });
      const manifest = readFileSync(path.join(out, 'manifest.json'));
      expect(`sha256:${createHash('sha256').update(manifest).digest('hex')}`).toBe(want.digest);
      const [name, tag] = ref.split(':') as [string, string];
      expect(await registryDigests(edge.url, name, tag)).toEqual(want);
      for (const digest of want.blobs) expect(existsSync(path.join(out, digest.slice('sha256:'.length))), `${digest} missing`).toBe(true);
    }, 180_000);
  });

  describe.skipIf(dockerSkip !== undefined)('Docker engine with registry-mirrors', () => {
    let docker: RunningDocker;
    beforeAll(async () => {
      docker = await startDocker(edge.url);
    }, 120_000);
    afterAll(async () => {
      await docker?.stop();
    }, 60_000);

    it.each([
      ['OCI image', 'oci' as const],
      ['Docker schema-2 image', 'docker' as const],
      ['multi-arch index', 'multi' as const],
    ])('docker pull of the %s goes through the mirror', async (_label, kind) => {
      const ref = refs[kind];
      const short = ref.replace(/^library\//, ''); // what a user types: docker pull test:1
      const want = expected.get(ref)!;
      const before = await blobCounters(edge);
      const pull = await docker.docker(['pull', short], 240_000);
      expect(pull.code, `docker pull ${short} failed:\n${pull.stdout}\n${pull.stderr}\n--- dockerd log\n${docker.logTail()}`).toBe(0);
      expect(pull.stdout).toContain(`Digest: ${want.digest}`);

      const inspect = await docker.docker(['image', 'inspect', short, '--format', '{{json .RepoDigests}}']);
      expect(inspect.code, inspect.stderr).toBe(0);
      const [repo] = short.split(':');
      expect(JSON.parse(inspect.stdout) as string[]).toContain(`${repo}@${want.digest}`);
      // Docker can only reach the upstream through FastReg (it does not know the upstream's address
      // and its proxy is dead); the edge's counters show it served the blobs.
      await expectBlobCountersAbove(edge, before);
    }, 300_000);
  });

  describe.skipIf(containerdSkip !== undefined)('containerd with hosts.toml (?ns=docker.io)', () => {
    let containerd: RunningContainerd;
    beforeAll(async () => {
      containerd = await startContainerd(edge.url);
    }, 120_000);
    afterAll(async () => {
      await containerd?.stop();
    }, 60_000);

    it.each([
      ['OCI image', 'oci' as const],
      ['multi-arch index', 'multi' as const],
    ])('ctr image pull of the %s goes through the mirror', async (_label, kind) => {
      const ref = refs[kind];
      const want = expected.get(ref)!;
      const before = await blobCounters(edge);
      const image = `docker.io/${ref}`;
      const pull = await containerd.ctr(['image', 'pull', '--hosts-dir', containerd.hostsDir, '--snapshotter', 'native', image], 240_000);
      expect(pull.code, `ctr pull failed:\n${pull.stdout.slice(-2000)}\n${pull.stderr}\n--- containerd log\n${containerd.logTail()}`).toBe(0);

      const list = await containerd.ctr(['image', 'ls']);
      const row = list.stdout.split('\n').find((line) => line.startsWith(`${image} `));
      expect(row, list.stdout).toBeDefined();
      expect(row!.split(/\s+/)[2]).toBe(want.digest);

      const content = await containerd.ctr(['content', 'ls', '-q']);
      const have = new Set(content.stdout.split('\n').map((line) => line.trim()));
      const needed = await hostPlatformDigests(ref, want);
      for (const digest of needed) expect(have.has(digest), `${digest} not in containerd's content store`).toBe(true);
      await expectBlobCountersAbove(edge, before);
    }, 300_000);
  });

  /** Digests containerd must hold after pulling `ref` for the host platform. */
  async function hostPlatformDigests(ref: string, want: ImageDigests): Promise<string[]> {
    if (want.manifests.length === 0) return [want.digest, ...want.blobs];
    const [name] = ref.split(':') as [string];
    const index = (await (await fetch(`${upstream.url}/v2/${name}/manifests/${want.digest}`, { headers: { Accept: want.mediaType } })).json()) as {
      manifests: { digest: string; platform: { architecture: string; os: string } }[];
    };
    const host = hostPlatform();
    const child = index.manifests.find((m) => m.platform.architecture === host.architecture && m.platform.os === host.os)!;
    const childDigests = await registryDigests(upstream.url, name, child.digest);
    return [want.digest, child.digest, ...childDigests.blobs];
  }
});

/** The edge's counters are flushed in batches, so give them a few seconds to show the pull. */
async function expectBlobCountersAbove(edge: TestEdge, before: number): Promise<void> {
  let last = before;
  await waitUntil(
    async () => (last = await blobCounters(edge)) > before,
    15_000,
    () => `edge /stats blobs.hits+misses stayed at ${last} (before the pull: ${before})`,
  );
}

/** Sum of the edge's blob hit/miss counters (GET /stats). */
async function blobCounters(edge: TestEdge): Promise<number> {
  const stats = await edge.stats();
  const blobs = (stats.blobs ?? {}) as Record<string, unknown>;
  return Number(blobs.hits ?? 0) + Number(blobs.misses ?? 0);
}
