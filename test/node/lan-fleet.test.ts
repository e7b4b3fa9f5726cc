import { createHash } from 'node:crypto';
import { createReadStream, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parsePrometheus, sumSamples } from '../../workers/shared/metrics-wire/parse.js';
import type { ClientInfo } from '../../workers/shared/oci/client-info.js';
import { startDocker, type RunningDocker } from '../helpers/docker.js';
import { startTestEdge, type TestEdge } from '../helpers/edge.js';
import { OciLayout, pushImage, registryDigests, type LayerFile } from '../helpers/images.js';
import { getFrom, getJsonFrom, hostForwarder, loopbackHosts, pullBlobFrom, type HostForwarder, type HostResponse } from '../helpers/lan-hosts.js';
import { swarmKeyFile } from '../helpers/enrollment.js';
import { commandExists, makeTempDir, sleep } from '../helpers/processes.js';
import { startRegistry, type RunningRegistry } from '../helpers/registry.js';
import { putBlobFile, startSidecar, stopAll, waitFor, type SidecarProcess, type SidecarStartOptions } from '../helpers/sidecar-cluster.js';

// A LAN fleet end to end (issue #6): the edge, a real docker-registry upstream, and five sidecars,
// each on a simulated host of its own site. Host 1 is 127.0.0.1, where a real Docker engine pulls
// from (its sidecar registers with the edge directly); hosts 2–5 (127.0.0.2–.5) reach the edge
// through a forwarder bound to their address, so the edge records that address as their site.
// A sixth sidecar (127.0.0.7, registered nowhere) serves corrupt bytes over P2P.

const HOSTS = ['127.0.0.1', ...loopbackHosts(4)];
const CORRUPT_HOST = '127.0.0.7';
const HEARTBEAT_MS = 1000;
const TABLE_TTL_MS = 250;
const MiB = 1024 * 1024;
const CLIENTS_PER_HOST = 4;
const KILL_BLOB_BYTES = 64 * MiB;
/** Killed-mid-burst clients read at this pace, so the kill lands while they are mid-body. */
const SLOW_CLIENT_BPS = 16 * MiB;
const RETRY_BACKOFF_MS = 500;
const RETRY_ATTEMPTS = 20;
const RETRY_DEADLINE_MS = 180_000;

const missing = ['docker-registry', 'skopeo'].filter((command) => !commandExists(command));
const dockerSkip = !commandExists('dockerd') ? 'dockerd not installed (apt-get install docker.io)' : process.getuid?.() !== 0 ? 'dockerd needs root' : undefined;
const skipped = [...(missing.length ? [`not installed: ${missing.join(', ')}`] : []), ...(dockerSkip ? [`Docker engine: ${dockerSkip}`] : [])];
// CI installs every client (.ci/run), so there a missing one is a broken install, not a reason to skip.
if (skipped.length && process.env.CI) throw new Error(`lan-fleet cannot run in CI: ${skipped.join('; ')}`);
for (const reason of skipped) console.warn(`lan-fleet: SKIPPED: ${reason}`);

interface PublishedImage {
  repository: string;
  digest: string;
  /** Config and layer digests. */
  blobs: string[];
  layers: { digest: string; size: number }[];
  /** The OCI layout holding every blob as blobs/sha256/<hex>. */
  layoutDir: string;
}

interface EdgeRecord {
  id: string;
  observedIp?: string;
  endpoint?: string;
}

describe.skipIf(missing.length > 0)('a LAN fleet of five sidecars behind the edge', () => {
  let upstream: RunningRegistry;
  let edge: TestEdge;
  let docker: RunningDocker | undefined;
  let work: { dir: string; remove(): void };
  const forwarders: HostForwarder[] = [];
  /** sidecars[i] serves the site of HOSTS[i]. */
  const sidecars: SidecarProcess[] = [];
  let corrupt: SidecarProcess;
  const images: Record<'docker' | 'burst' | 'kill' | 'corrupt', PublishedImage> = {} as never;
  const startOptions: SidecarStartOptions[] = [];

  beforeAll(async () => {
    const started = Date.now();
    work = makeTempDir('lan-fleet');
    upstream = await startRegistry();
    const publishing = (async () => {
      images.docker = await publishImage('library/fleet-docker', [[{ name: 'hello', content: `fleet ${Date.now()}\n` }], [{ name: 'data.bin', randomBytes: 6 * MiB }]]);
      images.burst = await publishImage('library/fleet-burst', [0, 1, 2].map((i) => [{ name: `layer${i}.bin`, randomBytes: 8 * MiB }]));
      images.kill = await publishImage('library/fleet-kill', [[{ name: 'big.bin', randomBytes: KILL_BLOB_BYTES }]]);
      images.corrupt = await publishImage('library/fleet-corrupt', [[{ name: 'corrupt-target.bin', randomBytes: 4 * MiB }]]);
    })();

    edge = await startTestEdge({ upstream: upstream.url, vars: { REDIRECT_POLICY: 'rendezvous', SIDECAR_TABLE_TTL_MS: String(TABLE_TTL_MS) } });
    const dockerStarting = dockerSkip ? undefined : startDocker(edge.url);
    const common = ['--heartbeat-interval', String(HEARTBEAT_MS)];
    startOptions.push({ name: 'fleet-1', args: ['--http', `${HOSTS[0]}:0`, '--edge', edge.url, ...common], env: { FASTREG_TOKEN: edge.token } });
    sidecars.push(await startSidecar(startOptions[0]!));
    const bootstrap = [sidecars[0]!.addr];
    for (const [i, host] of HOSTS.entries()) {
      if (i === 0) continue;
      const forwarder = await hostForwarder(host, edge.url);
      forwarders.push(forwarder);
      startOptions.push({
        name: `fleet-${i + 1}`,
        bootstrap,
        args: ['--http', `${host}:0`, '--listen', `/ip4/${host}/tcp/0`, '--edge', forwarder.url, ...common],
        env: { FASTREG_TOKEN: edge.token },
      });
    }
    const [rest, corruptStarted] = await Promise.all([
      Promise.all(startOptions.slice(1).map((options) => startSidecar(options))),
      startSidecar({
        name: 'fleet-corrupt',
        bootstrap,
        // Not registered (no edge), but in the fleet's private swarm: the key is the edge's.
        args: ['--http', `${CORRUPT_HOST}:0`, '--listen', `/ip4/${CORRUPT_HOST}/tcp/0`, '--psk-file', await swarmKeyFile(edge.url, work.dir)],
        env: { FASTREG_TEST_CORRUPT_SERVE: '1' },
      }),
    ]);
    sidecars.push(...rest);
    corrupt = corruptStarted;

    await waitFor(
      async () => {
        const records = await edgeRecords();
        return HOSTS.every((host, i) => records.some((r) => r.id === sidecars[i]!.peerId && r.observedIp === host && r.endpoint === sidecars[i]!.url));
      },
      { timeoutMs: 30_000, intervalMs: 250, what: 'five sidecars registered, each with its host as observedIp' },
    );
    await waitFor(
      async () => {
        for (const node of [...sidecars, corrupt]) {
          const health = (await (await fetch(`${node.url}/healthz`)).json()) as { peers: number };
          if (health.peers < sidecars.length) return false;
        }
        return true;
      },
      { timeoutMs: 30_000, intervalMs: 500, what: 'all six sidecars connected in one mesh' },
    );
    docker = await dockerStarting;
    await publishing;
    console.log(`lan-fleet: fleet, Docker engine and images ready in ${Date.now() - started} ms`);
  }, 240_000);

  afterAll(async () => {
    await docker?.stop();
    await stopAll([...sidecars, corrupt]);
    for (const forwarder of forwarders) forwarder.close();
    await edge?.stop();
    await upstream?.stop();
    work?.remove();
  }, 60_000);

  /** Builds an image with one layer per entry, pushes it to the upstream with skopeo, and lists its digests. */
  async function publishImage(repository: string, layers: LayerFile[][]): Promise<PublishedImage> {
    const layout = new OciLayout(path.join(work.dir, repository.replace(/\//g, '-')));
    const manifest = await layout.writeImage(layers);
    layout.tag(manifest, '1');
    await pushImage(layout.dir, '1', `${upstream.hostPort}/${repository}:1`);
    const listed = await registryDigests(upstream.url, repository, '1');
    expect(listed.digest).toBe(manifest.digest);
    const body = JSON.parse(readFileSync(blobPath(layout.dir, manifest.digest), 'utf8')) as { layers: { digest: string; size: number }[] };
    return { repository, digest: listed.digest, blobs: listed.blobs, layers: body.layers, layoutDir: layout.dir };
  }

  async function edgeRecords(): Promise<EdgeRecord[]> {
    const res = await fetch(`${edge.url}/services/fastreg/records`, { signal: AbortSignal.timeout(5_000) });
    if (!res.ok) throw new Error(`GET /services/fastreg/records: ${res.status}`);
    return ((await res.json()) as { records: EdgeRecord[] }).records;
  }

  async function edgeRedirects(): Promise<number> {
    const samples = parsePrometheus(await (await fetch(`${edge.url}/metrics`)).text());
    return sumSamples(samples, 'fastreg_edge_requests_total', { route: 'blob', status: '307' });
  }

  /** GET requests for the blob that reached the upstream, from its own access log. */
  const upstreamGets = (digest: string) => upstream.count('GET', `/blobs/${digest}`);

  /**
   * A registry client's blob download: GET from the edge, follow its 307; on a refused, cut or wrong
   * download, back off and start again from the edge (as Docker does), within bounded attempts and time.
   */
  async function pullRetrying(
    host: string,
    repository: string,
    digest: string,
    options: { bytesPerSecond?: number; onSource?: (source: string) => void; onBytes?: (bytes: number) => void } = {},
  ): Promise<{ attempts: number; errors: string[]; redirect?: string; final: HostResponse }> {
    const deadline = Date.now() + RETRY_DEADLINE_MS;
    const errors: string[] = [];
    const get = { timeoutMs: 60_000, bytesPerSecond: options.bytesPerSecond, onBytes: options.onBytes };
    for (let attempt = 1; attempt <= RETRY_ATTEMPTS && Date.now() < deadline; attempt++) {
      options.onSource?.('edge');
      try {
        const first = await getFrom(host, `${edge.url}/v2/${repository}/blobs/${digest}`, get);
        const redirect = first.status === 307 ? String(first.headers.location) : undefined;
        if (redirect) options.onSource?.(redirect);
        const final = redirect ? await getFrom(host, redirect, get) : first;
        if (final.status === 200 && final.digest === digest) return { attempts: attempt, errors, redirect, final };
        errors.push(`${redirect ?? 'edge'}: ${final.status}, ${final.bytes} bytes hashing to ${final.digest}`);
      } catch (err) {
        errors.push((err as Error).message);
      }
      await sleep(RETRY_BACKOFF_MS);
    }
    throw new Error(`client at ${host} got no good copy of ${digest}: ${errors.join('; ')}`);
  }

  it.skipIf(dockerSkip !== undefined)('a real Docker engine pulls through the edge and is redirected to the sidecar of its host', async () => {
    const image = images.docker;
    const short = `${image.repository.replace(/^library\//, '')}:1`;
    const servedBefore = await sidecars[0]!.metric('fastreg_sidecar_served_bytes_total');
    const redirectsBefore = await edgeRedirects();
    const started = Date.now();
    const pull = await docker!.docker(['pull', short], 180_000);
    expect(pull.code, `docker pull ${short} failed:\n${pull.stdout}\n${pull.stderr}\n--- dockerd log\n${docker!.logTail()}`).toBe(0);
    expect(pull.stdout).toContain(`Digest: ${image.digest}`);
    const inspect = await docker!.docker(['image', 'inspect', short, '--format', '{{json .RepoDigests}}']);
    expect(JSON.parse(inspect.stdout) as string[]).toContain(`${short.split(':')[0]}@${image.digest}`);

    // The layers reached Docker from the 127.0.0.1 sidecar, which the edge redirected it to.
    const layerBytes = image.layers.reduce((sum, layer) => sum + layer.size, 0);
    const served = (await sidecars[0]!.metric('fastreg_sidecar_served_bytes_total')) - servedBefore;
    expect(served).toBeGreaterThanOrEqual(layerBytes);
    let redirects = 0;
    await waitFor(async () => (redirects = (await edgeRedirects()) - redirectsBefore) >= image.blobs.length, {
      timeoutMs: 15_000,
      what: `edge metrics counting ${image.blobs.length} blob 307s`,
    });
    for (const digest of image.blobs) expect(upstreamGets(digest), digest).toBe(1);
    console.log(`lan-fleet: docker pull ${short} in ${Date.now() - started} ms; sidecar served ${served} bytes (layers ${layerBytes}); edge 307s ${redirects}`);
  }, 240_000);

  it(`a burst of ${HOSTS.length * CLIENTS_PER_HOST} clients reads the upstream once per blob`, async () => {
    const image = images.burst;
    for (const digest of image.blobs) expect(upstreamGets(digest)).toBe(0);
    const clients = HOSTS.flatMap((host, site) => Array.from({ length: CLIENTS_PER_HOST }, () => ({ host, site })));
    const servedBefore = await Promise.all(sidecars.map((sidecar) => sidecar.metric('fastreg_sidecar_served_bytes_total')));
    const started = Date.now();
    const pulls = await Promise.all(
      clients.map(({ host, site }) =>
        Promise.all(image.blobs.map(async (digest) => ({ site, digest, ...(await pullBlobFrom(host, edge.url, image.repository, digest, { timeoutMs: 60_000 })) }))),
      ),
    );
    const elapsed = Date.now() - started;
    for (const { site, digest, redirect, final } of pulls.flat()) {
      // Its own site's sidecar, or the edge itself when it did not redirect; never another site's sidecar.
      expect([`${sidecars[site]!.url}/v2/${image.repository}/blobs/${digest}`, undefined], `client at ${HOSTS[site]}`).toContain(redirect);
      expect(final.status).toBe(200);
      expect(final.digest).toBe(digest);
    }
    const notRedirected = pulls.flat().filter((pull) => pull.redirect === undefined).length;
    // Every site's sidecar served its clients.
    for (const [i, sidecar] of sidecars.entries()) expect(await sidecar.metric('fastreg_sidecar_served_bytes_total'), sidecar.name).toBeGreaterThan(servedBefore[i]!);
    const gets = image.blobs.map(upstreamGets);
    expect(gets).toEqual(image.blobs.map(() => 1));
    console.log(`lan-fleet: burst of ${clients.length} clients × ${image.blobs.length} blobs in ${elapsed} ms; upstream GETs per blob ${JSON.stringify(gets)}; ${notRedirected} pulls not redirected`);
  }, 180_000);

  it('a sidecar killed mid-burst: every client still completes, and the dead sidecar drops out of the edge records', async () => {
    const { digest, size } = images.kill.layers[0]!;
    const repository = images.kill.repository;
    const victimSite = HOSTS.length - 1;
    const victim = sidecars[victimSite]!;
    const clients = HOSTS.flatMap((host, site) => Array.from({ length: CLIENTS_PER_HOST }, () => ({ host, site })));
    // The edge caches its site table per isolate: start once it counts the victim for its host, or the
    // victim's clients are (rightly) served by the edge and there is nobody to cut (seen once in CI).
    await waitFor(async () => (await getJsonFrom<ClientInfo>(HOSTS[victimSite]!, `${edge.url}/client-info`)).reachableSidecars > 0, {
      timeoutMs: 15_000,
      intervalMs: 200,
      what: "the edge to count the victim's host as having a live sidecar",
    });
    // What each client is downloading from right now ('edge' or the Location it followed), and how far it got.
    const source = clients.map(() => '');
    const received = clients.map(() => 0);
    const started = Date.now();
    const outcomes = Promise.allSettled(
      clients.map(({ host }, i) =>
        pullRetrying(host, repository, digest, {
          bytesPerSecond: SLOW_CLIENT_BPS,
          onSource: (from) => {
            source[i] = from;
            received[i] = 0;
          },
          onBytes: (bytes) => (received[i]! += bytes),
        }),
      ),
    );
    const fromVictim = (i: number) => source[i]!.startsWith(`${victim.url}/`);
    const siteClients = clients.flatMap((client, i) => (client.site === victimSite ? [i] : []));
    // Kill once every client of the victim's site is mid-body: from the victim, or (when the edge did not redirect it) from the edge.
    await waitFor(() => siteClients.some(fromVictim) && siteClients.every((i) => received[i]! >= 2 * MiB), {
      timeoutMs: 150_000,
      intervalMs: 50,
      what: "the victim's clients mid-body",
    }).catch((err: Error) => {
      throw new Error(`${err.message}: ${siteClients.map((i) => `${source[i]} ${received[i]}`).join(', ')} (victim ${victim.url})`);
    });
    const victimClients = siteClients.filter(fromVictim);
    expect(victimClients.length).toBeGreaterThan(0);
    const cutAt = victimClients.map((i) => received[i]!);
    const killedAt = Date.now();
    await victim.kill();

    await waitFor(async () => !(await edgeRecords()).some((r) => r.id === victim.peerId), { timeoutMs: 15_000, intervalMs: 100, what: "the killed sidecar's record to expire" });
    const droppedAfter = Date.now() - killedAt;
    const results = await outcomes;
    const elapsed = Date.now() - started;
    for (const [i, outcome] of results.entries()) {
      expect(outcome.status, `client ${i} at ${clients[i]!.host}: ${outcome.status === 'rejected' ? (outcome.reason as Error).message : ''}`).toBe('fulfilled');
      const { final } = (outcome as PromiseFulfilledResult<Awaited<ReturnType<typeof pullRetrying>>>).value;
      expect(final.digest).toBe(digest);
      expect(final.bytes).toBe(size);
    }
    const done = results.map((r) => (r as PromiseFulfilledResult<Awaited<ReturnType<typeof pullRetrying>>>).value);
    for (const [n, i] of victimClients.entries()) {
      // The kill cut this client's download: it retried, and the edge (no longer redirecting) served it.
      expect(cutAt[n]).toBeLessThan(size);
      expect(done[i]!.attempts, `client ${i}: ${done[i]!.errors.join('; ')}`).toBeGreaterThanOrEqual(2);
      expect(done[i]!.redirect).toBeUndefined();
    }
    // Everyone else got it from their own site's sidecar, or from the edge when it did not redirect them.
    for (const [i, result] of done.entries()) {
      if (victimClients.includes(i)) continue;
      const own = clients[i]!.site === victimSite ? undefined : `${sidecars[clients[i]!.site]!.url}/v2/${repository}/blobs/${digest}`;
      expect([own, undefined], `client ${i} at ${clients[i]!.host}: ${result.redirect}`).toContain(result.redirect);
    }
    const servedByEdge = done.filter((result, i) => !victimClients.includes(i) && result.redirect === undefined).length;
    // The record lives 3 heartbeat intervals past the last heartbeat the edge took in; slack for a loaded machine.
    expect(droppedAfter).toBeLessThan(3 * HEARTBEAT_MS + 7_000);
    const gets = upstreamGets(digest);
    expect(gets).toBe(1);
    console.log(
      `lan-fleet: kill mid-burst: ${clients.length} clients done in ${elapsed} ms; victim's clients cut at ${cutAt.map((b) => (b / MiB).toFixed(1)).join('/')} MiB, ` +
        `attempts ${victimClients.map((i) => done[i]!.attempts).join('/')}; record gone ${droppedAfter} ms after the kill; upstream GETs ${gets}; ` +
        `${servedByEdge} other clients not redirected\n` +
        `  first victim client's failed attempts: ${done[victimClients[0]!]!.errors.join(' | ')}`,
    );
  }, 300_000);

  it('a peer serving corrupt bytes: the client gets the right blob, and nothing corrupt is stored or reported valid', async () => {
    const { repository } = images.corrupt;
    const { digest, size } = images.corrupt.layers[0]!;
    const fetcher = sidecars[2]!;
    const put = await putBlobFile(corrupt.url, digest, blobPath(images.corrupt.layoutDir, digest));
    expect(put.status).toBe(201);
    // The fetching sidecar finds the corrupt peer as the blob's provider before its client asks.
    await waitFor(
      async () => {
        const { providers } = (await (await fetch(`${fetcher.url}/providers/${digest}`)).json()) as { providers: { peerId: string }[] };
        return providers.some((p) => p.peerId === corrupt.peerId);
      },
      { timeoutMs: 30_000, intervalMs: 500, what: 'the corrupt peer listed as a provider' },
    );
    const failuresBefore = await fetcher.metric('fastreg_sidecar_digest_failures_total');
    const p2pFetchesBefore = await labelled(fetcher, 'fastreg_sidecar_blob_fetches_total', { source: 'p2p' });

    // The fetching sidecar streams the corrupt peer's bytes on as they come but holds back the last
    // ones until the digest check, which fails: that response is cut, and the client's retry (as
    // Docker does) gets the right blob from the edge.
    const { redirect, final, attempts, errors } = await pullRetrying(HOSTS[2]!, repository, digest);
    expect(attempts, errors.join('; ')).toBeGreaterThanOrEqual(2);
    expect(redirect).toBe(`${fetcher.url}/v2/${repository}/blobs/${digest}`);
    expect(final.status).toBe(200);
    expect(final.digest).toBe(digest);
    expect(final.headers['docker-content-digest']).toBe(digest);
    expect(final.headers['x-fastreg-source']).toBe('edge');
    // The corrupt peer did send bytes, the fetching sidecar rejected them and took the blob from the edge.
    expect(await corrupt.metric('fastreg_sidecar_p2p_bytes_out_total')).toBeGreaterThan(0);
    expect(await fetcher.metric('fastreg_sidecar_digest_failures_total')).toBeGreaterThan(failuresBefore);
    expect(await labelled(fetcher, 'fastreg_sidecar_blob_fetches_total', { source: 'p2p' })).toBe(p2pFetchesBefore);
    expect(upstreamGets(digest)).toBe(1);

    // A client of another site: its sidecar may meet the corrupt peer too, and still serves the right bytes.
    const other = await pullRetrying(HOSTS[1]!, repository, digest);
    expect(other.redirect).toBe(`${sidecars[1]!.url}/v2/${repository}/blobs/${digest}`);
    expect(other.final.digest).toBe(digest);
    for (const holder of [fetcher, sidecars[1]!]) {
      expect(await sha256File(blobPath(holder.dir, digest)), `${holder.name}'s stored copy`).toBe(digest);
      expect(readdirSync(path.dirname(blobPath(holder.dir, digest))).filter((name) => name.endsWith('.part')), `${holder.name} left temp files`).toEqual([]);
    }
    console.log(
      `lan-fleet: corrupt peer: ${size} bytes; digest failures ${await fetcher.metric('fastreg_sidecar_digest_failures_total')} at ${fetcher.name}, ` +
        `${await sidecars[1]!.metric('fastreg_sidecar_digest_failures_total')} at ${sidecars[1]!.name}; upstream GETs ${upstreamGets(digest)}`,
    );
  }, 120_000);

  it('a sidecar restart: deregistered at once on stop, the edge serves its site, then it is redirected to again from its store', async () => {
    const site = 3;
    const host = HOSTS[site]!;
    const { repository } = images.burst;
    const { digest, size } = images.burst.layers[0]!;
    const before = sidecars[site]!;
    expect(upstreamGets(digest)).toBe(1);

    expect(await before.stop()).toBe(0);
    // Deregistered before it exited: no waiting for the TTL.
    expect((await edgeRecords()).some((r) => r.id === before.peerId)).toBe(false);
    await sleep(2 * TABLE_TTL_MS);
    const meanwhile = await pullBlobFrom(host, edge.url, repository, digest, { timeoutMs: 60_000 });
    expect(meanwhile.redirect).toBeUndefined();
    expect(meanwhile.final.status).toBe(200);
    expect(meanwhile.final.digest).toBe(digest);

    const restartStarted = Date.now();
    const after = await startSidecar({ ...startOptions[site]!, dir: before.dir });
    sidecars[site] = after;
    expect(after.peerId).toBe(before.peerId);
    await waitFor(async () => (await edgeRecords()).some((r) => r.id === after.peerId && r.endpoint === after.url && r.observedIp === host), {
      timeoutMs: 15_000,
      intervalMs: 100,
      what: 'the restarted sidecar registered again',
    });
    const registeredAfter = Date.now() - restartStarted;
    await sleep(2 * TABLE_TTL_MS);
    const again = await pullBlobFrom(host, edge.url, repository, digest, { timeoutMs: 60_000 });
    expect(again.redirect).toBe(`${after.url}/v2/${repository}/blobs/${digest}`);
    expect(again.final.status).toBe(200);
    expect(again.final.digest).toBe(digest);
    expect(again.final.headers['x-fastreg-source']).toBe('local');
    expect(await labelled(after, 'fastreg_sidecar_served_bytes_total', { source: 'local' })).toBe(size);
    expect(upstreamGets(digest)).toBe(1);
    console.log(`lan-fleet: restart: registered again ${registeredAfter} ms after start; served ${size} bytes from its store; upstream GETs ${upstreamGets(digest)}`);
  }, 120_000);
});

function blobPath(dir: string, digest: string): string {
  return path.join(dir, 'blobs', 'sha256', digest.slice('sha256:'.length));
}

async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return `sha256:${hash.digest('hex')}`;
}

/** One labelled counter of a sidecar. */
async function labelled(sidecar: SidecarProcess, name: string, where: Record<string, string>): Promise<number> {
  return sumSamples(parsePrometheus(await (await fetch(`${sidecar.url}/metrics`)).text()), name, where);
}
