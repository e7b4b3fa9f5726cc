import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parsePrometheus, sumSamples } from '../../workers/shared/metrics-wire/parse.js';
import { startTestEdge, type TestEdge } from '../helpers/edge.js';
import { FakeUpstream } from '../helpers/fake-upstream.js';
import { getFrom } from '../helpers/lan-hosts.js';
import { removeDir, startSidecar, stopAll, waitFor, type SidecarProcess } from '../helpers/sidecar-cluster.js';

// One filler per site, end to end (issue 11): a launched edge (Miniflare), an in-process fake
// upstream that serves slowly, and three real sidecars of one site (all reach the edge from
// 127.0.0.1, so the edge puts them in one site). All three are asked for one cold blob at once:
// the edge serves it to one of them, sends the others to that one (307 + X-FastReg-Filler), and
// they stream it over P2P while it fills.

const NAME = 'library/sitefill';
const MiB = 1024 * 1024;

let fake: FakeUpstream;
let edge: TestEdge;
const sidecars: SidecarProcess[] = [];

async function edgeMetrics(): Promise<ReturnType<typeof parsePrometheus>> {
  return parsePrometheus(await (await fetch(`${edge.url}/metrics`, { signal: AbortSignal.timeout(10_000) })).text());
}

beforeAll(async () => {
  fake = new FakeUpstream();
  await fake.start();
  edge = await startTestEdge({ upstream: fake.url, vars: { REDIRECT_POLICY: 'rendezvous', SIDECAR_TABLE_TTL_MS: '250' } });
  for (let i = 0; i < 3; i++) {
    sidecars.push(
      await startSidecar({
        name: `sitefill-${i}`,
        bootstrap: sidecars.slice(0, 1).map((node) => node.addr),
        args: ['--edge', edge.url, '--heartbeat-interval', '1000'],
        env: { FASTREG_TOKEN: edge.token },
      }),
    );
  }
  await waitFor(
    async () => {
      const res = await fetch(`${edge.url}/services/fastreg/records`, { signal: AbortSignal.timeout(5_000) });
      const { records } = (await res.json()) as { records: { id: string }[] };
      return sidecars.every((node) => records.some((record) => record.id === node.peerId));
    },
    { timeoutMs: 30_000, intervalMs: 250, what: 'three sidecars registered with the edge' },
  );
  await waitFor(
    async () => {
      for (const node of sidecars) {
        const health = (await (await fetch(`${node.url}/healthz`)).json()) as { peers: number };
        if (health.peers < 2) return false;
      }
      return true;
    },
    { timeoutMs: 30_000, intervalMs: 250, what: 'three sidecars in one mesh' },
  );
}, 180_000);

afterAll(async () => {
  await stopAll(sidecars);
  await Promise.all(sidecars.map((node) => removeDir(node.dir)));
  await edge?.stop();
  await fake?.stop();
}, 60_000);

describe('one filler per site', () => {
  it('three sidecars of one site ask for one cold blob at once: one edge GET from the site, three verified stores', async () => {
    const blob = randomBytes(12 * MiB);
    const digest = fake.addBlob(blob);
    // Slow enough that all three are asking while the first one fills.
    fake.addFault({ match: `GET /v2/${NAME}/blobs/${digest}`, fault: { kind: 'slow', bytesPerSecond: 6 * MiB } });
    const before = await edgeMetrics();
    const served = (status: string, samples: ReturnType<typeof parsePrometheus>) => sumSamples(samples, 'fastreg_edge_requests_total', { route: 'blob', status });
    const before200 = served('200', before);
    const before307 = served('307', before);

    const results = await Promise.all(sidecars.map((node) => getFrom('127.0.0.1', `${node.url}/v2/${NAME}/blobs/${digest}`, { timeoutMs: 60_000 })));
    for (const result of results) {
      expect(result.status).toBe(200);
      expect(result.bytes).toBe(blob.length);
      expect(result.digest).toBe(digest);
    }
    const sources = results.map((result) => result.headers['x-fastreg-source']).sort();
    expect(sources.filter((source) => source === 'edge')).toHaveLength(1);

    // The edge served the blob once to the site; the other sidecars were sent to the filler (or found it in the DHT).
    let after = before;
    await waitFor(
      async () => {
        after = await edgeMetrics();
        return served('200', after) - before200 >= 1;
      },
      { timeoutMs: 15_000, intervalMs: 250, what: 'edge metrics to count the fill' },
    );
    expect(served('200', after) - before200).toBe(1);
    console.log(`site fill: edge answered ${served('307', after) - before307} sidecar request(s) with 307 to the filler`);
    expect(served('307', after) - before307).toBeLessThanOrEqual(2);
    expect(fake.count('GET', `/blobs/${digest}`)).toBe(1);
    const p2pIn = await Promise.all(sidecars.map((node) => node.metric('fastreg_sidecar_p2p_bytes_in_total')));
    expect(p2pIn.reduce((sum, bytes) => sum + bytes, 0)).toBe(2 * blob.length);

    // Every store holds the verified blob.
    for (const node of sidecars) {
      await waitFor(
        async () => {
          const body = (await (await fetch(`${node.url}/providers/${digest}`)).json()) as { providers: { self: boolean }[] };
          return body.providers.some((provider) => provider.self);
        },
        { timeoutMs: 10_000, what: `${node.name} to hold the blob` },
      );
    }
  });
});
