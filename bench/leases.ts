import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { bundleWorker, startEdge, type RunningEdge, type WorkerFetcher } from '../scripts/edge-launcher.js';
import { makeTempDir } from '../test/helpers/processes.js';
import type { LoopResult, Percentiles } from './lease-loop-worker.js';
import { median } from './median.js';

// Lease actor benchmark. The DO figures are timed inside workerd by a bench-only Worker
// (bench/lease-loop-worker.ts) that binds the edge's BlobLease class, so they measure the
// Worker→DO RPC and the actor, not Node→Miniflare overhead. The HTTP batch API (/leases/*, served by
// the LeaseShard objects) is timed from Node for comparison. Run alone: `npx tsx bench/leases.ts`.

export interface LeaseBenchOptions {
  /** Repeats of each DO phase; figures are medians over them. */
  repeats?: number;
  /** Ops per one-key phase (each also bounded by budgetMs). */
  oneKeyOps?: number;
  /** Concurrent callers on the one object in the throughput phase. */
  concurrency?: number;
  /** Keys of the many-keys phases. */
  manyKeys?: number;
  /** Ops of the HTTP path phase. */
  httpOps?: number;
  /** Time bound of each single loop. */
  budgetMs?: number;
  log?: (line: string) => void;
}

export interface PhaseFigures {
  label: string;
  mode: LoopResult['mode'];
  keys: number;
  concurrency: number;
  /** Medians over repeats. */
  opsPerSec: number;
  rpcsPerSec: number;
  latencyMs: Percentiles;
  acquireMs: Percentiles;
  runs: Array<Pick<LoopResult, 'done' | 'seconds' | 'opsPerSec' | 'unexpected' | 'errors' | 'firstError'> & { p99: number }>;
  unexpected: number;
  errors: number;
}

export interface LeaseBenchFigures {
  repeats: number;
  clockResolutionMs: number;
  /** The report's lease figure: one BlobLease object, `concurrency` callers, acquire→release pairs. */
  oneObject: PhaseFigures;
  oneObjectSequential: PhaseFigures;
  /** Baseline: acquire on one already-stored object, 1 caller (a bare Worker→DO RPC, no write). */
  oneStoredObjectSequential: PhaseFigures;
  freshKeysComplete: PhaseFigures;
  manyKeysComplete: PhaseFigures;
  manyKeysStoredAcquire: PhaseFigures;
  http: {
    /** One key per request: can-offload then register, sequentially, fresh keys. */
    perKey: { ops: number; opsPerSec: number; latencyMs: Percentiles };
    /** One can-offload and one register of `keys` keys each. */
    batch: { keys: number; canOffloadMs: number; registerMs: number; keysPerSec: number };
  };
}

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const BENCH_WORKER = 'lease-bench';

export async function runLeaseBench(options: LeaseBenchOptions = {}): Promise<LeaseBenchFigures> {
  const repeats = Math.max(1, options.repeats ?? 3);
  const oneKeyOps = options.oneKeyOps ?? 3_000;
  const concurrency = options.concurrency ?? 8;
  const manyKeys = options.manyKeys ?? 1_000;
  const httpOps = options.httpOps ?? 300;
  const budgetMs = options.budgetMs ?? 10_000;
  const log = options.log ?? ((line: string) => process.stderr.write(`[lease bench] ${line}\n`));
  const work = makeTempDir('bench-leases');
  let edge: RunningEdge | undefined;
  try {
    const scriptPath = await bundleWorker(path.join(ROOT, 'bench/lease-loop-worker.ts'), path.join(work.dir, 'lease-bench-worker'));
    edge = await startEdge({
      stateDir: path.join(work.dir, 'edge'),
      logs: false,
      extraWorkers: [
        {
          name: BENCH_WORKER,
          modules: true,
          modulesRoot: path.dirname(scriptPath),
          scriptPath,
          compatibilityDate: '2026-04-26',
          durableObjects: { BLOB_LEASE: { className: 'BlobLease', scriptName: 'fastreg' } },
        },
      ],
    });
    const loop = await edge.getWorker(BENCH_WORKER);
    let resolution = Infinity;
    let runId = 0;
    let lastPrefix = '';
    const phase = async (label: string, query: { mode: LoopResult['mode']; keys: number | 'ops'; ops: number; concurrency: number; prefix?: string }): Promise<PhaseFigures> => {
      const runs: LoopResult[] = [];
      for (let r = 0; r < repeats; r++) {
        const prefix = query.prefix ?? `${query.mode}-${Date.now().toString(36)}-${runId++}`;
        lastPrefix = prefix;
        const keys = query.keys === 'ops' ? query.ops : query.keys;
        const result = await runLoop(loop, { mode: query.mode, prefix, keys, ops: query.ops, budgetMs, concurrency: query.concurrency });
        if (result.clockResolutionMs > 0) resolution = Math.min(resolution, result.clockResolutionMs);
        log(
          `  ${label} #${r + 1}: ${result.done} ops in ${result.seconds} s = ${result.opsPerSec} ops/s; p50 ${result.latencyMs.op.p50} ms, p99 ${result.latencyMs.op.p99} ms` +
            (result.unexpected || result.errors ? `; ${result.unexpected} unexpected, ${result.errors} errors ${result.firstError ?? ''}` : ''),
        );
        runs.push(result);
      }
      const med = (pick: (r: LoopResult) => number) => median(runs.map(pick));
      return {
        label,
        mode: query.mode,
        keys: query.keys === 'ops' ? query.ops : query.keys,
        concurrency: query.concurrency,
        opsPerSec: med((r) => r.opsPerSec),
        rpcsPerSec: med((r) => r.rpcsPerSec),
        latencyMs: { p50: med((r) => r.latencyMs.op.p50), p99: med((r) => r.latencyMs.op.p99), max: Math.max(...runs.map((r) => r.latencyMs.op.max)) },
        acquireMs: { p50: med((r) => r.latencyMs.acquire.p50), p99: med((r) => r.latencyMs.acquire.p99), max: Math.max(...runs.map((r) => r.latencyMs.acquire.max)) },
        runs: runs.map((r) => ({ done: r.done, seconds: r.seconds, opsPerSec: r.opsPerSec, unexpected: r.unexpected, errors: r.errors, p99: r.latencyMs.op.p99, ...(r.firstError ? { firstError: r.firstError } : {}) })),
        unexpected: runs.reduce((n, r) => n + r.unexpected, 0),
        errors: runs.reduce((n, r) => n + r.errors, 0),
      };
    };

    log('warm-up');
    await runLoop(loop, { mode: 'cycle', prefix: 'warmup', keys: 1, ops: 500, budgetMs, concurrency: 1 });
    log(`one BlobLease object, ${concurrency} concurrent callers: acquire→Granted→release`);
    const oneObject = await phase('one object', { mode: 'cycle', keys: 1, ops: oneKeyOps, concurrency });
    log('one BlobLease object, sequential: acquire→Granted→release');
    const oneObjectSequential = await phase('one object, sequential', { mode: 'cycle', keys: 1, ops: oneKeyOps, concurrency: 1 });
    log('baseline: one stored object, sequential acquire (Worker→DO RPC answered from memory, no write)');
    const storedKey = `stored-${Date.now().toString(36)}`;
    await runLoop(loop, { mode: 'complete', prefix: storedKey, keys: 1, ops: 1, budgetMs, concurrency: 1 });
    const oneStoredObjectSequential = await phase('one stored object, sequential', { mode: 'read', keys: 1, ops: oneKeyOps, concurrency: 1, prefix: storedKey });
    log('fresh keys, sequential: acquire→Granted→complete (a new object per op)');
    const freshKeysComplete = await phase('fresh keys', { mode: 'complete', keys: 'ops', ops: Math.min(oneKeyOps, 1_000), concurrency: 1 });
    log(`${manyKeys} keys, ${concurrency * 2} concurrent callers: acquire→Granted→complete, then acquire on the stored keys`);
    const manyKeysComplete = await phase(`${manyKeys} keys`, { mode: 'complete', keys: 'ops', ops: manyKeys, concurrency: concurrency * 2 });
    // Reads the keys the last run of the phase above stored (AlreadyStored: the warm-pull path).
    const manyKeysStoredAcquire = await phase(`${manyKeys} stored keys`, { mode: 'read', keys: manyKeys, ops: manyKeys * 3, concurrency: concurrency * 2, prefix: lastPrefix });

    log('HTTP batch API from Node (LeaseShard objects)');
    const http = await httpPath(edge, httpOps, manyKeys);
    log(`  per key: ${http.perKey.opsPerSec} ops/s, p50 ${http.perKey.latencyMs.p50} ms, p99 ${http.perKey.latencyMs.p99} ms; batch of ${http.batch.keys}: ${http.batch.keysPerSec} keys/s`);
    return { repeats, clockResolutionMs: Number.isFinite(resolution) ? resolution : 0, oneObject, oneObjectSequential, oneStoredObjectSequential, freshKeysComplete, manyKeysComplete, manyKeysStoredAcquire, http };
  } finally {
    await edge?.stop().catch(() => undefined);
    work.remove();
  }
}

async function runLoop(loop: WorkerFetcher, query: { mode: string; prefix: string; keys: number; ops: number; budgetMs: number; concurrency: number }): Promise<LoopResult> {
  const params = new URLSearchParams(Object.entries(query).map(([k, v]): [string, string] => [k, String(v)]));
  const response = await loop.fetch(`http://lease-bench/?${params}`);
  const body = await response.text();
  if (response.status !== 200) throw new Error(`lease bench worker: HTTP ${response.status}: ${body.slice(0, 500)}`);
  return JSON.parse(body) as LoopResult;
}

async function httpPath(edge: RunningEdge, ops: number, batchKeys: number): Promise<LeaseBenchFigures['http']> {
  const post = async (route: string, body: unknown) => {
    const response = await fetch(`${edge.url}/leases/${route}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${edge.token}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(30_000),
    });
    const text = await response.text();
    if (response.status !== 200) throw new Error(`POST /leases/${route}: HTTP ${response.status}: ${text.slice(0, 300)}`);
    return JSON.parse(text) as Record<string, unknown>;
  };
  const prefix = `http-${Date.now().toString(36)}`;
  const latencies: number[] = [];
  const started = performance.now();
  const stopAt = started + 20_000;
  for (let i = 0; i < ops && performance.now() < stopAt; i++) {
    const key = `${prefix}-${i}`;
    const t0 = performance.now();
    await post('can-offload', { version: 1, keys: [key], holder: 'bench' });
    await post('register', { version: 1, entries: [{ key, size: 1 }] });
    latencies.push(performance.now() - t0);
  }
  const seconds = (performance.now() - started) / 1000;
  const keys = Array.from({ length: batchKeys }, (_, i) => `${prefix}-batch-${i}`);
  const t0 = performance.now();
  await post('can-offload', { version: 1, keys, holder: 'bench' });
  const t1 = performance.now();
  await post('register', { version: 1, entries: keys.map((key) => ({ key, size: 1 })) });
  const t2 = performance.now();
  return {
    perKey: { ops: latencies.length, opsPerSec: round(latencies.length / seconds), latencyMs: percentiles(latencies) },
    batch: { keys: batchKeys, canOffloadMs: round(t1 - t0), registerMs: round(t2 - t1), keysPerSec: round(batchKeys / ((t2 - t0) / 1000)) },
  };
}

function percentiles(values: number[]): Percentiles {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number) => round(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0);
  return { p50: at(0.5), p99: at(0.99), max: round(sorted.at(-1) ?? 0) };
}

function round(n: number): number {
  return Math.round(n * 100) / 100;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const started = Date.now();
  const watchdog = setTimeout(() => {
    process.stderr.write('bench/leases: gave up after 5 min\n');
    process.exit(3);
  }, 5 * 60_000);
  const figures = await runLeaseBench();
  clearTimeout(watchdog);
  process.stdout.write(`${JSON.stringify(figures, null, 2)}\n`);
  process.stderr.write(`bench/leases: ${((Date.now() - started) / 1000).toFixed(0)} s\n`);
  process.exit(0);
}
