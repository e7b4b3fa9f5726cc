import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../scripts/edge-launcher.js';
import { parsePrometheus, sumSamples } from '../../workers/shared/metrics-wire/parse.js';
import type { StatusSummary } from '../../workers/shared/metrics-wire/summary-types.js';
import { startTestEdge, type TestEdge } from '../helpers/edge.js';
import { freePort } from '../helpers/processes.js';
import { FakeUpstream } from '../helpers/fake-upstream.js';
import { hashGet, makeTempDir, putBlobFile, makeBlobFile, startSidecar, stopAll, TEST_TOKEN, type SidecarProcess } from '../helpers/sidecar-cluster.js';

// `fastreg status` as a real subprocess against a launched edge and a real sidecar.

const BIN = path.join(REPO_ROOT, 'bin', 'fastreg.js');

let fake: FakeUpstream;
let edge: TestEdge;
let sidecar: SidecarProcess | undefined;

beforeAll(async () => {
  fake = new FakeUpstream();
  await fake.start();
  edge = await startTestEdge({ upstream: fake.url });
}, 120_000);

afterAll(async () => {
  await stopAll([sidecar]);
  await edge?.stop();
  await fake?.stop();
}, 60_000);

interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

function status(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const childEnv: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1', ...env };
    delete childEnv.FASTREG_EDGE;
    delete childEnv.FASTREG_SIDECAR;
    Object.assign(childEnv, env);
    const child = spawn(process.execPath, [BIN, 'status', ...args], { cwd: REPO_ROOT, env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe('fastreg status', () => {
  it('prints the summary as JSON that matches /metrics, and as readable tables', async () => {
    const blob = randomBytes(64 * 1024);
    const digest = fake.addBlob(blob);
    for (let i = 0; i < 3; i++) {
      const res = await fetch(`${edge.url}/v2/library/cli/blobs/${digest}`, { signal: AbortSignal.timeout(30_000) });
      expect((await res.arrayBuffer()).byteLength).toBe(blob.length);
    }
    const json = await status(['--json'], { FASTREG_EDGE: edge.url });
    expect(json.stderr).toBe('');
    expect(json.code).toBe(0);
    const { summary } = JSON.parse(json.stdout) as { summary: StatusSummary };
    const samples = parsePrometheus(await (await fetch(`${edge.url}/metrics`)).text());
    expect(summary.requests.cached).toBe(sumSamples(samples, 'fastreg_edge_requests_total', { route: /^(blob|manifest)$/, source: 'r2' }));
    expect(summary.requests).toMatchObject({ cached: 2, upstream: 1, total: 3 });
    expect(summary.bytes.upstreamAvoided).toBe(2 * blob.length);
    expect(summary.bytes.upstreamAvoided).toBe(sumSamples(samples, 'fastreg_upstream_bytes_avoided_total'));
    expect(summary.upstreams.find((u) => u.registry === 'docker.io')?.ratelimitRemaining).toBe(sumSamples(samples, 'fastreg_upstream_ratelimit_remaining', { registry: 'docker.io' }));

    const table = await status(['--edge', edge.url]);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/hit ratio\s*│\s*66\.7% \(2 cached of 3 manifest \+ blob requests\)/);
    expect(table.stdout).toContain(`128.0 KiB (${2 * blob.length} bytes)`);
    expect(table.stdout).toMatch(/docker\.io\s*│\s*\d+/);
  });

  it("adds a sidecar's figures with --sidecar", async () => {
    const dir = await makeTempDir('status-cli-blob');
    sidecar = await startSidecar({ name: 'status-cli-sidecar' });
    const file = await makeBlobFile(dir, 100_000);
    expect((await putBlobFile(sidecar.url, file.digest, file.path, TEST_TOKEN)).status).toBe(201);
    expect((await hashGet(`${sidecar.url}/blobs/${file.digest}`)).digest).toBe(file.digest);
    const json = await status(['--json', '--edge', edge.url, '--sidecar', sidecar.url]);
    expect(json.code).toBe(0);
    const { sidecar: figures } = JSON.parse(json.stdout) as { sidecar: { storeBytes: number; storeBlobs: number; requestsBySource: Record<string, number> } };
    expect(figures.storeBytes).toBe(100_000);
    expect(figures.storeBlobs).toBe(1);
    expect(figures.requestsBySource.local).toBe(1);
    // The sidecar's own names follow the edge's conventions: _total counters, base units.
    const text = await (await fetch(`${sidecar.url}/metrics`)).text();
    expect(text).toContain('# TYPE fastreg_sidecar_store_evictions_total counter');
    expect(text).toContain('# TYPE fastreg_sidecar_dht_peers gauge');
    const samples = parsePrometheus(text);
    expect(sumSamples(samples, 'fastreg_sidecar_served_bytes_total', { source: 'local' })).toBe(100_000);
    expect(sumSamples(samples, 'fastreg_sidecar_http_request_duration_seconds_count', { route: '/blobs/:digest' })).toBeGreaterThanOrEqual(1);
    expect(sumSamples(samples, 'fastreg_sidecar_store_bytes')).toBe(figures.storeBytes);
    const table = await status(['--edge', edge.url], { FASTREG_SIDECAR: sidecar.url });
    expect(table.code).toBe(0);
    expect(table.stdout).toContain(`sidecar ${sidecar.url}`);
    expect(table.stdout).toMatch(/store\s*│\s*97\.7 KiB in 1 blobs/);
  }, 90_000);

  it('fails with one clear line and a non-zero exit when the edge is unreachable', async () => {
    const port = await freePort();
    const result = await status(['--edge', `http://127.0.0.1:${port}`]);
    expect(result.code).not.toBe(0);
    expect(result.stdout).toBe('');
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toMatch(new RegExp(`^fastreg: cannot reach the edge at http://127\\.0\\.0\\.1:${port}: ECONNREFUSED`));
    const bad = await status(['--edge', 'not a url']);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/^fastreg: edge URL "not a url" is not a valid URL\n$/);
  });
});
