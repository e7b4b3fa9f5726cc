import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LanBurstFigures, LanVariant } from '../../bench/lan-burst.js';
import type { LoopResult } from '../../bench/lease-loop-worker.js';
import { figureRows, lanMarkdown, renderMarkdown, renderSvg, type SuiteReport, type SuiteSections } from '../../bench/report.js';
import { bundleWorker, REPO_ROOT, startEdge, type RunningEdge, type WorkerFetcher } from '../../scripts/edge-launcher.js';
import { TEST_WRANGLER_HOME } from '../helpers/edge.js';
import { makeTempDir } from '../helpers/processes.js';

// The benchmark's own plumbing: the bench-only lease Worker started next to the edge (startEdge
// extraWorkers) really drives the edge's BlobLease objects, and the report lists every benchmark
// figure with an honest verdict.

describe('lease bench worker beside the edge', () => {
  const work = makeTempDir('bench-suite');
  let edge: RunningEdge;
  let loop: WorkerFetcher;

  beforeAll(async () => {
    const scriptPath = await bundleWorker(path.join(REPO_ROOT, 'bench/lease-loop-worker.ts'), path.join(work.dir, 'loop'));
    edge = await startEdge({
      stateDir: path.join(work.dir, 'edge'),
      logs: false,
      wranglerHome: TEST_WRANGLER_HOME,
      extraWorkers: [
        {
          name: 'lease-bench',
          modules: true,
          modulesRoot: path.dirname(scriptPath),
          scriptPath,
          compatibilityDate: '2026-04-26',
          durableObjects: { BLOB_LEASE: { className: 'BlobLease', scriptName: 'fastreg' } },
        },
      ],
    });
    loop = await edge.getWorker('lease-bench');
  }, 120_000);

  afterAll(async () => {
    await edge?.stop();
    work.remove();
  });

  const run = async (query: Record<string, string | number>): Promise<LoopResult> => {
    const response = await loop.fetch(`http://lease-bench/?${new URLSearchParams(Object.entries(query).map(([k, v]): [string, string] => [k, String(v)]))}`);
    expect(response.status).toBe(200);
    return JSON.parse(await response.text()) as LoopResult;
  };

  it('the edge is still the entry worker', async () => {
    const response = await fetch(`${edge.url}/v2/`, { signal: AbortSignal.timeout(10_000) });
    expect(response.status).toBe(200);
    expect(response.headers.get('docker-distribution-api-version')).toBe('registry/2.0');
  });

  it('acquire→release cycles on one object, from concurrent callers', async () => {
    const result = await run({ mode: 'cycle', prefix: 'one', keys: 1, ops: 60, concurrency: 3, budgetMs: 20_000 });
    expect(result).toMatchObject({ done: 60, rpcs: 120, unexpected: 0, errors: 0 });
    expect(result.opsPerSec).toBeGreaterThan(0);
    expect(result.latencyMs.op.p99).toBeGreaterThanOrEqual(result.latencyMs.op.p50);
  });

  it('acquire→complete stores fresh keys; a later acquire finds them stored, and unstored keys count as unexpected', async () => {
    expect(await run({ mode: 'complete', prefix: 'fresh', keys: 8, ops: 8, concurrency: 4 })).toMatchObject({ done: 8, rpcs: 16, unexpected: 0, errors: 0 });
    // Stored keys cannot be granted again.
    expect(await run({ mode: 'complete', prefix: 'fresh', keys: 8, ops: 8, concurrency: 2 })).toMatchObject({ done: 8, unexpected: 8 });
    expect(await run({ mode: 'read', prefix: 'fresh', keys: 8, ops: 24, concurrency: 4 })).toMatchObject({ done: 24, unexpected: 0, errors: 0 });
    expect(await run({ mode: 'read', prefix: 'never-stored', keys: 4, ops: 4, concurrency: 1 })).toMatchObject({ done: 4, unexpected: 4 });
  });

  it('rejects an unknown mode', async () => {
    const response = await loop.fetch('http://lease-bench/?mode=drop');
    expect(response.status).toBe(400);
  });
});

describe('bench report', () => {
  const skipped = { status: 'skipped', seconds: 0 } as const;
  const none: SuiteSections = { edge: skipped, leases: skipped, services: skipped, p2p: skipped, lan: skipped };

  it('lists every benchmark figure as not measured when no section ran', () => {
    const rows = figureRows(none);
    expect(rows.map((r) => r.verdict).every((v) => v === 'not measured')).toBe(true);
    expect(rows.some((r) => r.figure.startsWith('Burst: N sidecars'))).toBe(true);
    expect(rows.filter((r) => r.figure.startsWith('Lease actor'))).toHaveLength(2);
    expect(rows.some((r) => r.figure.includes('P2P throughput'))).toBe(true);
  });

  it('judges the lease figures against their targets', () => {
    const phase = (opsPerSec: number, p99: number, concurrency: number) => ({
      label: 'x',
      mode: 'cycle' as const,
      keys: 1,
      concurrency,
      opsPerSec,
      rpcsPerSec: opsPerSec * 2,
      latencyMs: { p50: 1, p99, max: p99 },
      acquireMs: { p50: 1, p99, max: p99 },
      runs: [],
      unexpected: 0,
      errors: 0,
    });
    const http = { perKey: { ops: 1, opsPerSec: 1, latencyMs: { p50: 1, p99: 1, max: 1 } }, batch: { keys: 1, canOffloadMs: 1, registerMs: 1, keysPerSec: 1 } };
    const leases = (ops: number, p99: number) => ({
      status: 'ok' as const,
      seconds: 1,
      figures: {
        repeats: 1,
        clockResolutionMs: 1,
        oneObject: phase(ops * 1.2, p99 * 4, 8),
        oneObjectSequential: phase(ops, p99, 1),
        oneStoredObjectSequential: phase(3_000, 2, 1),
        freshKeysComplete: phase(100, 10, 1),
        manyKeysComplete: phase(100, 10, 16),
        manyKeysStoredAcquire: phase(5000, 3, 16),
        http,
      },
    });
    const good = figureRows({ ...none, leases: leases(1_200, 3) }).filter((r) => r.figure.startsWith('Lease actor'));
    expect(good.map((r) => r.verdict)).toEqual(['pass', 'pass']);
    const bad = figureRows({ ...none, leases: leases(900, 5) }).filter((r) => r.figure.startsWith('Lease actor'));
    expect(bad.map((r) => r.verdict)).toEqual(['fail', 'fail']);

    const report: SuiteReport = {
      at: 'now',
      environment: { cores: 2, cpuModel: 'cpu', node: 'v20', platform: 'linux', memoryGB: 1, loadAverageAtStart: [0, 0, 0], date: 'now' },
      options: {},
      seconds: 1,
      figures: bad,
      sections: { ...none, leases: leases(900, 5) },
    };
    const markdown = renderMarkdown(report);
    expect(markdown).toContain('❌ fail');
    expect(markdown).toContain('## Lease actor');
    const svg = renderSvg(bad, 'title <&>');
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg).toContain('title &lt;&amp;&gt;');
    expect(svg.match(/<rect /g)).toHaveLength(1 + bad.length);
  });

  it('judges the LAN burst per host count for the winning policy: upstream read once, time ≤ 1.3 × one cold pull, edge bytes and first bytes', () => {
    const variant = (name: LanVariant, seconds: number, upstreamGets: number) => ({
      variant: name,
      medianSeconds: seconds,
      samples: [{ seconds, upstreamGets, upstreamBytes: upstreamGets * 200e6, redirected: 0, failedClients: 0 }],
    });
    const lan = (winnerSeconds: number): LanBurstFigures => ({
      blobBytes: 200e6,
      repeatsAsked: 1,
      single: { direct: variant('direct', 0.5, 1), coldFastreg: variant('off', 7, 1) },
      byHosts: [
        {
          hosts: 5,
          repeats: 1,
          winner: 'spread',
          variants: [variant('rendezvous', 20, 1), variant('spread', winnerSeconds, 1), variant('local', 9, 2), variant('off', 9, 1), variant('pull-through', 3, 5), variant('direct', 1, 5)],
        },
      ],
      winner: 'spread',
    });
    const rows = (figures: LanBurstFigures) => figureRows({ ...none, lan: { status: 'ok', seconds: 1, figures } }).filter((r) => r.figure.startsWith('Burst: 5 sidecars'));
    const good = rows(lan(9));
    expect(good.map((r) => [r.fastreg, r.verdict])).toEqual([['1', 'pass'], ['9.00 s', 'pass']]);
    expect(good[0]!.figure).toContain('spread (winner)');
    expect(good[0]!.baseline).toBe('5 (pull-through cache)');
    expect(rows(lan(9.5))[1]!.verdict).toBe('fail');
    const markdown = lanMarkdown(lan(9));
    expect(markdown).toContain('**Winning policy: spread**');
    expect(markdown).toContain('| FastReg, local | 9.00 | 18.00 | 1.29 | 2 | 400 | – | – | 0 | 9.0 |');
    // With the edge's bytes and first-byte times in the samples, they are judged too.
    const detailed = lan(9);
    for (const v of detailed.byHosts[0]!.variants) v.samples = v.samples.map((s) => ({ ...s, edgeServedBytes: 200e6, firstBytes: { first: 2, last: 2.5 } }));
    expect(rows(detailed).slice(2).map((r) => [r.fastreg, r.verdict])).toEqual([['1.00 × blob', 'pass'], ['0.50 s', 'pass']]);
    for (const v of detailed.byHosts[0]!.variants) v.samples = v.samples.map((s) => ({ ...s, edgeServedBytes: 1000e6, firstBytes: { first: 2, last: 4 } }));
    expect(rows(detailed).slice(2).map((r) => r.verdict)).toEqual(['fail', 'fail']);
    expect(lanMarkdown(detailed)).toContain('| 1000 | 2.0–4.0 |');
  });
});
