import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../scripts/edge-launcher.js';
import { MediaType } from '../../workers/shared/oci/index.js';
import { startTestEdge, type TestEdge } from '../helpers/edge.js';
import { FakeUpstream } from '../helpers/fake-upstream.js';
import { TEST_TOKEN, makeBlobFile, putBlobFile, removeDir, startSidecar, waitFor, type SidecarProcess } from '../helpers/sidecar-cluster.js';

// Every metric the Grafana dashboard queries must exist in a real edge's or sidecar's /metrics, after
// traffic that makes each family appear (the edge exports a family once it has a sample).

const DASHBOARD = path.join(REPO_ROOT, 'deploy', 'grafana', 'fastreg.json');

interface Panel {
  type: string;
  title: string;
  targets?: { expr: string }[];
  panels?: Panel[];
}

function dashboardQueries(): { panel: string; expr: string }[] {
  const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as { panels: Panel[] };
  const flat = (panels: Panel[]): Panel[] => panels.flatMap((panel) => [panel, ...flat(panel.panels ?? [])]);
  return flat(dashboard.panels).flatMap((panel) => (panel.targets ?? []).map((target) => ({ panel: panel.title, expr: target.expr })));
}

/** Sample names in a Prometheus text exposition (histograms give _bucket, _sum and _count). */
function sampleNames(text: string): Set<string> {
  const names = new Set<string>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const name = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line)?.[0];
    if (name) names.add(name);
  }
  return names;
}

let upstream: FakeUpstream;
let edge: TestEdge;
let sidecar: SidecarProcess | undefined;
let blobDir: string | undefined;

beforeAll(async () => {
  upstream = new FakeUpstream();
  await upstream.start();
  edge = await startTestEdge({ upstream: upstream.url, token: TEST_TOKEN, vars: { REDIRECT_POLICY: 'off', MANIFEST_TAG_TTL_SECONDS: '0' } });
  sidecar = await startSidecar({ name: 'grafana-sidecar', entry: 'cli', args: ['--edge', edge.url] });
}, 120_000);

afterAll(async () => {
  await sidecar?.stop();
  if (blobDir) await removeDir(blobDir);
  await edge?.stop();
  await upstream?.stop();
}, 60_000);

describe('deploy/grafana/fastreg.json', () => {
  it('is a Grafana dashboard with a Prometheus datasource input and the promised panels', () => {
    const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as { __inputs: { pluginId: string }[]; panels: Panel[]; uid: string };
    expect(dashboard.__inputs.map((input) => input.pluginId)).toEqual(['prometheus']);
    const titles = dashboard.panels.map((panel) => panel.title.toLowerCase()).join('\n');
    for (const words of ['hit ratio', 'bytes saved', 'quota left', 'leases active', 'takeover', 'sidecars online', 'p2p bytes', 'digest failures', 'latency']) {
      expect(titles).toContain(words);
    }
    const queries = dashboardQueries();
    expect(queries.some((q) => q.expr.includes('histogram_quantile(0.99'))).toBe(true);
  });

  it('queries only metrics that a real edge or sidecar exports', async () => {
    // Traffic that makes every edge family appear: a cold and a warm blob, a blob with wrong bytes,
    // and a tag manifest served stale while the upstream is down.
    const good = upstream.addRandomBlob(64 * 1024);
    for (let i = 0; i < 2; i++) expect((await fetch(`${edge.url}/v2/library/dash/blobs/${good}`)).status).toBe(200);
    const bad = upstream.addRandomBlob(4096);
    upstream.addFault({ match: `GET /v2/library/dash/blobs/${bad}`, fault: { kind: 'wrong-bytes' } });
    await (await fetch(`${edge.url}/v2/library/dash/blobs/${bad}`)).arrayBuffer().catch(() => undefined);
    const config = upstream.addBlob(Buffer.from('{}'));
    upstream.addManifest('library/dash', 'v1', { schemaVersion: 2, mediaType: MediaType.OciManifest, config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: config, size: 2 }, layers: [] }, MediaType.OciManifest);
    expect((await fetch(`${edge.url}/v2/library/dash/manifests/v1`, { headers: { Accept: MediaType.OciManifest } })).status).toBe(200);
    upstream.setDown(true);
    expect((await fetch(`${edge.url}/v2/library/dash/manifests/v1`, { headers: { Accept: MediaType.OciManifest } })).status).toBe(200);
    upstream.setDown(false);

    // A sidecar that filled a blob from the edge, served one from its store, and answered its own routes.
    expect((await fetch(`${sidecar!.url}/v2/library/dash/blobs/${good}`)).status).toBe(200);
    const file = await makeBlobFile((blobDir = sidecar!.dir), 8192);
    expect((await putBlobFile(sidecar!.url, file.digest, file.path)).status).toBeLessThan(300);
    expect((await fetch(`${sidecar!.url}/v2/library/dash/blobs/${file.digest}`)).status).toBe(200);

    const wanted = new Set(dashboardQueries().flatMap((q) => q.expr.match(/\bfastreg_[a-z0-9_]+/g) ?? []));
    expect(wanted.size).toBeGreaterThan(15);
    let missing: string[] = [];
    // Edge metrics reach /metrics through a batched flush into the EdgeMetrics object.
    await waitFor(
      async () => {
        const exported = new Set([
          ...sampleNames(await (await fetch(`${edge.url}/metrics`)).text()),
          ...sampleNames(await (await fetch(`${sidecar!.url}/metrics`)).text()),
        ]);
        missing = [...wanted].filter((name) => !exported.has(name));
        return missing.length === 0;
      },
      { timeoutMs: 20_000, intervalMs: 500, what: 'every dashboard metric in /metrics' },
    ).catch(() => undefined);
    expect(missing).toEqual([]);
  }, 90_000);
});
