import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PULL_EXPIRES_PARAM, PULL_SIGNATURE_PARAM, signPull } from '../../workers/shared/sidecars/auth.js';
import { startContainerd, type RunningContainerd } from '../helpers/containerd.js';
import { startDocker, type RunningDocker } from '../helpers/docker.js';
import { startTestEdge, type TestEdge } from '../helpers/edge.js';
import { enrollThrowaway } from '../helpers/enrollment.js';
import { OciLayout, pushImage, registryDigests, type ImageDigests } from '../helpers/images.js';
import { commandExists, makeTempDir } from '../helpers/processes.js';
import { startRegistry, type RunningRegistry } from '../helpers/registry.js';
import { hashGet, startSidecar, waitFor, type SidecarProcess } from '../helpers/sidecar-cluster.js';

// PULL_ACCESS=token and the LAN (issue 12): the edge's 307 to a sidecar carries a short-lived
// signature of (digest, ns, repository, expiry), and the sidecar serves blobs only with it, loopback
// clients included. Before, its /v2/.../blobs/... was open: anyone on the host pulled through it with
// the sidecar's edge credentials. Real Docker and containerd pull through the redirect without
// credentials for the sidecar; they reach the edge through a proxy that adds the pull token (neither
// client can put a bearer token on a mirror by itself).

const isRoot = process.getuid?.() === 0;
const missing = ['docker-registry', 'skopeo'].filter((command) => !commandExists(command));
const dockerSkip = !commandExists('dockerd') || !isRoot;
const containerdSkip = !commandExists('containerd') || !commandExists('ctr') || !isRoot;
if ((missing.length || dockerSkip || containerdSkip) && process.env.CI) throw new Error('pull-tokens needs docker-registry, skopeo, dockerd and containerd in CI');

const REPOSITORY = 'library/tokenpull';

/** An HTTP proxy to the edge that adds `Authorization: Bearer <token>` and passes redirects back untouched. */
async function tokenProxy(edgeUrl: string, token: string): Promise<{ url: string; close(): Promise<void> }> {
  const target = new URL(edgeUrl);
  const server = http.createServer((req, res) => {
    const upstream = http.request(
      { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: { ...req.headers, host: target.host, authorization: `Bearer ${token}` } },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

describe.skipIf(missing.length > 0)('signed redirects with PULL_ACCESS=token', () => {
  let work: { dir: string; remove(): void };
  let upstream: RunningRegistry;
  let edge: TestEdge;
  let sidecar: SidecarProcess;
  let proxy: Awaited<ReturnType<typeof tokenProxy>>;
  let image: ImageDigests;
  let layer: string;

  beforeAll(async () => {
    work = makeTempDir('pull-tokens');
    upstream = await startRegistry();
    const layout = new OciLayout(path.join(work.dir, 'layout'));
    layout.tag(await layout.writeImage([[{ name: 'hello', content: `token pull ${Date.now()}\n` }], [{ name: 'data.bin', randomBytes: 2 * 1024 * 1024 }]]), '1');
    await pushImage(layout.dir, '1', `${upstream.hostPort}/${REPOSITORY}:1`);
    image = await registryDigests(upstream.url, REPOSITORY, '1');
    // The 2 MiB layer: the blob the direct-GET checks ask for.
    const sizes = await Promise.all(image.blobs.map(async (digest) => Number((await fetch(`${upstream.url}/v2/${REPOSITORY}/blobs/${digest}`, { method: 'HEAD' })).headers.get('Content-Length'))));
    layer = image.blobs[sizes.indexOf(Math.max(...sizes))]!;
    edge = await startTestEdge({ upstream: upstream.url, vars: { PULL_ACCESS: 'token', SIDECAR_TABLE_TTL_MS: '250' } });
    sidecar = await startSidecar({ name: 'token-sidecar', args: ['--edge', edge.url, '--heartbeat-interval', '1000'] });
    await waitFor(
      async () => {
        const res = await fetch(`${edge.url}/services/fastreg/records/${sidecar.peerId}`, { signal: AbortSignal.timeout(5_000) });
        return res.ok;
      },
      { timeoutMs: 30_000, what: 'the sidecar registered with its own credential' },
    );
    proxy = await tokenProxy(edge.url, edge.token);
  }, 240_000);

  afterAll(async () => {
    await proxy?.close();
    await sidecar?.stop();
    await edge?.stop();
    await upstream?.stop();
    work?.remove();
  }, 60_000);

  it('the sidecar answers 401 to a blob GET without a signature, with an expired one, or one for another repository; the edge redirect works', async () => {
    const blobPath = `/v2/${REPOSITORY}/blobs/${layer}`;
    // The attack: a job on the build host asks the sidecar directly, with no credential at all.
    const unsigned = await fetch(`${sidecar.url}${blobPath}`);
    expect(unsigned.status).toBe(401);
    expect(((await unsigned.json()) as { errors: { code: string }[] }).errors[0]?.code).toBe('UNAUTHORIZED');
    expect((await fetch(`${sidecar.url}/blobs/${layer}?name=${REPOSITORY}`)).status).toBe(401);
    expect((await fetch(`${sidecar.url}${blobPath}`, { method: 'HEAD' })).status).toBe(401);

    // What a real redirect looks like, from the edge (with the pull token, as the client has it).
    const redirect = await fetch(`${proxy.url}${blobPath}`, { redirect: 'manual' });
    expect(redirect.status).toBe(307);
    const location = new URL(redirect.headers.get('Location')!);
    expect(location.origin).toBe(sidecar.url);
    expect(location.searchParams.get(PULL_SIGNATURE_PARAM)).toBeTruthy();

    // Signed with the right key (a sidecar's, from enrollment), but expired a second ago.
    const { redirectKey } = await enrollThrowaway(edge.url);
    const expires = Math.floor(Date.now() / 1000) - 1;
    const expired = new URL(`${sidecar.url}${blobPath}`);
    expired.searchParams.set(PULL_EXPIRES_PARAM, String(expires));
    expired.searchParams.set(PULL_SIGNATURE_PARAM, await signPull(redirectKey, { digest: layer, name: REPOSITORY, expires }));
    expect((await fetch(expired)).status).toBe(401);
    // A valid signature for one repository does not open another.
    const moved = new URL(location.href.replace(`/v2/${REPOSITORY}/`, '/v2/library/elsewhere/'));
    expect((await fetch(moved)).status).toBe(401);

    // The redirect itself, followed without any credential: the right bytes.
    const served = await hashGet(location.href);
    expect(served.status).toBe(200);
    expect(served.digest).toBe(layer);
    expect(await sidecar.metric('fastreg_sidecar_served_bytes_total')).toBeGreaterThan(0);
  });

  describe.skipIf(dockerSkip)('Docker', () => {
    let docker: RunningDocker;
    beforeAll(async () => {
      docker = await startDocker(proxy.url);
    }, 120_000);
    afterAll(async () => {
      await docker?.stop();
    }, 60_000);

    it('docker pull follows the signed redirect to the sidecar without credentials', async () => {
      const before = await sidecar.metric('fastreg_sidecar_served_bytes_total');
      const pull = await docker.docker(['pull', 'tokenpull:1'], 240_000);
      expect(pull.code, `docker pull failed:\n${pull.stdout}\n${pull.stderr}\n--- dockerd log\n${docker.logTail()}`).toBe(0);
      expect(pull.stdout).toContain(`Digest: ${image.digest}`);
      // The layers came from the sidecar (the edge redirected every blob GET there).
      expect(await sidecar.metric('fastreg_sidecar_served_bytes_total')).toBeGreaterThan(before + 2 * 1024 * 1024);
    }, 300_000);
  });

  describe.skipIf(containerdSkip)('containerd', () => {
    let containerd: RunningContainerd;
    beforeAll(async () => {
      containerd = await startContainerd(proxy.url);
    }, 120_000);
    afterAll(async () => {
      await containerd?.stop();
    }, 60_000);

    it('ctr image pull follows the signed redirect (?ns=docker.io is signed too) without credentials', async () => {
      const before = await sidecar.metric('fastreg_sidecar_served_bytes_total');
      const ref = `docker.io/${REPOSITORY}:1`;
      const pull = await containerd.ctr(['image', 'pull', '--hosts-dir', containerd.hostsDir, '--snapshotter', 'native', ref], 240_000);
      expect(pull.code, `ctr pull failed:\n${pull.stdout.slice(-2000)}\n${pull.stderr}\n--- containerd log\n${containerd.logTail()}`).toBe(0);
      const list = await containerd.ctr(['image', 'ls']);
      expect(list.stdout.split('\n').find((line) => line.startsWith(`${ref} `))?.split(/\s+/)[2]).toBe(image.digest);
      expect(await sidecar.metric('fastreg_sidecar_served_bytes_total')).toBeGreaterThan(before + 2 * 1024 * 1024);
    }, 300_000);
  });
});
