import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parsePrometheus, sumSamples } from '../../workers/shared/metrics-wire/parse.js';
import { startTestEdge, type TestEdge } from '../helpers/edge.js';
import { FakeUpstream } from '../helpers/fake-upstream.js';
import { hostForwarder, pullBlobFrom, type HostForwarder } from '../helpers/lan-hosts.js';
import { startSidecar, stopAll, waitFor, type SidecarProcess } from '../helpers/sidecar-cluster.js';

// LAN-first delivery end to end (README): a launched edge, an in-process fake upstream, and three
// real sidecars, each on a simulated host of its own site (127.0.0.2, .3, .4). A sidecar reaches the
// edge through a forwarder that connects from its host's address, as a host's NAT would, so the edge
// records that address as the sidecar's site. Clients bound to a site's address get a 307 to the
// site's sidecar, which pulls the blob from the edge (X-FastReg-Peer: not redirected again).

const HOSTS = ['127.0.0.2', '127.0.0.3', '127.0.0.4'] as const;
const NAME = 'library/lanfirst';

let fake: FakeUpstream;
let edge: TestEdge;
const forwarders: HostForwarder[] = [];
const sidecars: SidecarProcess[] = [];

beforeAll(async () => {
  fake = new FakeUpstream();
  await fake.start();
  edge = await startTestEdge({ upstream: fake.url, vars: { REDIRECT_POLICY: 'rendezvous', SIDECAR_TABLE_TTL_MS: '250' } });
  for (const [i, host] of HOSTS.entries()) {
    const forwarder = await hostForwarder(host, edge.url);
    forwarders.push(forwarder);
    sidecars.push(
      await startSidecar({
        name: `site-${i + 2}`,
        args: ['--http', `${host}:0`, '--edge', forwarder.url, '--heartbeat-interval', '1000'],
        env: { FASTREG_TOKEN: edge.token },
      }),
    );
  }
  // Every sidecar registered, each from its own host's address.
  await waitFor(
    async () => {
      const res = await fetch(`${edge.url}/services/fastreg/records`, { signal: AbortSignal.timeout(5_000) });
      const { records: items } = (await res.json()) as { records: { id: string; observedIp?: string; endpoint?: string }[] };
      return HOSTS.every((host, i) => items.some((r) => r.id === sidecars[i]!.peerId && r.observedIp === host && r.endpoint === sidecars[i]!.url));
    },
    { timeoutMs: 30_000, intervalMs: 250, what: 'three sidecars registered with their hosts as observedIp' },
  );
}, 180_000);

afterAll(async () => {
  await stopAll(sidecars);
  for (const forwarder of forwarders) forwarder.close();
  await edge?.stop();
  await fake?.stop();
}, 60_000);

describe('LAN-first delivery', () => {
  it("sends each site's clients to their own sidecar, and the upstream is read once for all sites", async () => {
    const blob = randomBytes(768 * 1024);
    const digest = fake.addBlob(blob);
    for (const sidecar of sidecars) expect(await sidecar.metric('fastreg_sidecar_served_bytes_total')).toBe(0);

    for (const [i, host] of HOSTS.entries()) {
      const { redirect, final } = await pullBlobFrom(host, edge.url, NAME, digest);
      expect(redirect, `client at ${host}`).toBe(`${sidecars[i]!.url}/v2/${NAME}/blobs/${digest}`);
      expect(final.status).toBe(200);
      expect(final.bytes).toBe(blob.length);
      expect(final.digest).toBe(digest);
      // That site's sidecar served it; the sidecars of sites not pulled yet served nothing.
      expect(await sidecars[i]!.metric('fastreg_sidecar_served_bytes_total')).toBe(blob.length);
      for (const other of sidecars.slice(i + 1)) expect(await other.metric('fastreg_sidecar_served_bytes_total')).toBe(0);
    }
    // Three sites, three sidecars filled through the edge, one upstream read.
    expect(fake.count('GET', `/blobs/${digest}`)).toBe(1);
    for (const sidecar of sidecars) expect(await sidecar.metric('fastreg_sidecar_blob_fetches_total')).toBeGreaterThanOrEqual(1);

    // A second pull from a site is served from that sidecar's store, not the edge or the upstream.
    const again = await pullBlobFrom(HOSTS[0], edge.url, NAME, digest);
    expect(again.final.digest).toBe(digest);
    expect(await sidecars[0]!.metric('fastreg_sidecar_served_bytes_total')).toBe(2 * blob.length);
    expect(fake.count('GET', `/blobs/${digest}`)).toBe(1);
    // The edge counted four redirects, and the sidecars' own fills (X-FastReg-Peer) were served, not redirected.
    await waitFor(
      async () => {
        const samples = parsePrometheus(await (await fetch(`${edge.url}/metrics`)).text());
        return sumSamples(samples, 'fastreg_edge_requests_total', { route: 'blob', status: '307', source: 'peer' }) === 4;
      },
      { timeoutMs: 15_000, intervalMs: 250, what: 'edge metrics counting 4 redirects' },
    );
  });

  it('serves a client of a site without sidecars itself, and HEAD is answered by the edge', async () => {
    const blob = randomBytes(200 * 1024);
    const digest = fake.addBlob(blob);
    const { redirect, final } = await pullBlobFrom('127.0.0.9', edge.url, NAME, digest);
    expect(redirect).toBeUndefined();
    expect(final.status).toBe(200);
    expect(final.digest).toBe(digest);
    expect(final.headers['x-fastreg-source']).toBe('upstream');

    const head = await new Promise<http.IncomingMessage>((resolve, reject) => {
      const request = http.request(`${edge.url}/v2/${NAME}/blobs/${digest}`, { method: 'HEAD', localAddress: HOSTS[1] }, resolve);
      request.on('error', reject);
      request.end();
    });
    head.resume();
    expect(head.statusCode).toBe(200);
    expect(head.headers['content-length']).toBe(String(blob.length));
  });
});
