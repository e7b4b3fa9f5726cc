import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { EdgeClient } from '../sidecar/edge/edge-client.js';
import type { ServiceEvent } from '../sidecar/edge/services-client.js';
import { ServicesClient } from '../sidecar/edge/services-client.js';

// Service-records benchmark: add, get and search throughput over HTTP with 10,000 records in one
// resource, and the latency from the start of a write until a watcher sees its event.
// Run alone with `npx tsx bench/services.ts` (starts a local edge), or call benchServices().

export interface BenchServicesOptions {
  records?: number;
  gets?: number;
  searches?: number;
  watchWrites?: number;
  concurrency?: number;
  /** Upper bound of each phase; a phase that hits it reports what it managed. */
  phaseTimeoutMs?: number;
}

export interface ServicesFigures {
  resource: string;
  records: number;
  addOpsPerSec: number;
  getOpsPerSec: number;
  searchOpsPerSec: number;
  /** Mean hits returned per search (limit 20). */
  searchMeanHits: number;
  watchLatencyMs: { samples: number; p50: number; p99: number; max: number };
  concurrency: number;
}

const TAGS = ['amd64', 'arm64', 'ci', 'gpu', 'cache', 'edge', 'lab', 'prod'];
const CATEGORIES = ['sidecar', 'builder', 'cache', 'proxy'];

export async function benchServices(edgeUrl: string, token: string, options: BenchServicesOptions = {}): Promise<ServicesFigures> {
  const records = options.records ?? 10_000;
  const gets = options.gets ?? 5_000;
  const searches = options.searches ?? 500;
  const watchWrites = options.watchWrites ?? 300;
  const concurrency = options.concurrency ?? 32;
  const phaseTimeoutMs = options.phaseTimeoutMs ?? 120_000;
  const client = new ServicesClient(new EdgeClient({ baseUrl: edgeUrl, token, timeoutMs: 30_000, userAgent: 'fastreg-bench' }));
  const resource = `bench-${Date.now().toString(36)}`;
  const id = (i: number) => `svc-${String(i).padStart(5, '0')}`;

  const added = await timed(records, concurrency, phaseTimeoutMs, (i) =>
    client.put(resource, id(i), {
      name: `service-${i % 500}`,
      description: `benchmark record ${i} in rack ${i % 40}`,
      endpoint: `http://10.0.${(i >> 8) & 255}.${i & 255}:5050`,
      tags: [TAGS[i % TAGS.length]!, TAGS[(i * 7 + 3) % TAGS.length]!],
      category: CATEGORIES[i % CATEGORIES.length]!,
      info: { cpu: 1 + (i % 16), memoryMb: 1024 * (1 + (i % 8)), rttHardMs: 50 },
      ttlSeconds: 3600,
    }),
  );
  const stored = added.done;

  const got = await timed(gets, concurrency, phaseTimeoutMs, (i) => client.get(resource, id((i * 7919) % stored)));

  let hits = 0;
  const searched = await timed(searches, Math.min(concurrency, 8), phaseTimeoutMs, async (i) => {
    const query = i % 3 === 0 ? { q: `service-${i % 500}` } : i % 3 === 1 ? { q: `rack ${i % 40}`, tags: [TAGS[i % TAGS.length]!] } : { category: CATEGORIES[i % 4]!, tags: ['ci'] };
    const answer = await client.search(resource, { ...query, limit: 20 });
    hits += answer.hits.length;
  });

  const watchLatencyMs = await watchLatency(client, resource, watchWrites, phaseTimeoutMs);
  return {
    resource,
    records: stored,
    addOpsPerSec: added.opsPerSec,
    getOpsPerSec: got.opsPerSec,
    searchOpsPerSec: searched.opsPerSec,
    searchMeanHits: searched.done ? round(hits / searched.done) : 0,
    watchLatencyMs,
    concurrency,
  };
}

/** Runs `count` calls with bounded concurrency, stopping early at the deadline. */
async function timed(count: number, concurrency: number, deadlineMs: number, call: (i: number) => Promise<unknown>): Promise<{ done: number; opsPerSec: number }> {
  const start = performance.now();
  const stopAt = start + deadlineMs;
  let next = 0;
  let done = 0;
  const worker = async () => {
    while (next < count && performance.now() < stopAt) {
      await call(next++);
      done++;
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  const seconds = (performance.now() - start) / 1000;
  return { done, opsPerSec: round(done / seconds) };
}

/** Sequential writes while one watcher listens; latency = write start → event received. */
async function watchLatency(client: ServicesClient, resource: string, writes: number, deadlineMs: number): Promise<ServicesFigures['watchLatencyMs']> {
  const controller = new AbortController();
  const deadline = setTimeout(() => controller.abort(new Error('watch phase timed out')), deadlineMs);
  const waiting = new Map<string, (at: number) => void>();
  let ready!: () => void;
  const isReady = new Promise<void>((resolve) => (ready = resolve));
  const reading = (async () => {
    for await (const event of client.watch(resource, controller.signal)) {
      if (event.type === 'ready') ready();
      else waiting.get((event as ServiceEvent).id)?.(performance.now());
    }
  })().catch(() => {});
  const samples: number[] = [];
  try {
    await Promise.race([isReady, new Promise((_, reject) => controller.signal.addEventListener('abort', () => reject(controller.signal.reason)))]);
    for (let i = 0; i < writes && !controller.signal.aborted; i++) {
      const watchedId = `watched-${i}`;
      const seen = new Promise<number>((resolve) => waiting.set(watchedId, resolve));
      const start = performance.now();
      await client.put(resource, watchedId, { name: 'watched', ttlSeconds: 3600 });
      const at = await Promise.race([seen, new Promise<number>((_, reject) => setTimeout(() => reject(new Error(`event for ${watchedId} not seen within 5 s`)), 5_000))]);
      waiting.delete(watchedId);
      samples.push(at - start);
    }
  } finally {
    clearTimeout(deadline);
    controller.abort();
    await reading;
  }
  samples.sort((a, b) => a - b);
  const pick = (q: number) => round(samples[Math.min(samples.length - 1, Math.floor(q * samples.length))] ?? NaN);
  return { samples: samples.length, p50: pick(0.5), p99: pick(0.99), max: round(samples.at(-1) ?? NaN) };
}

function round(n: number): number {
  return Math.round(n * 100) / 100;
}

async function runStandalone(): Promise<void> {
  const { startEdge } = await import('../scripts/edge-launcher.js');
  const stateDir = mkdtempSync(path.join(tmpdir(), 'fastreg-bench-services-'));
  const edge = await startEdge({ stateDir, logs: false });
  try {
    const figures = await benchServices(edge.url, edge.token);
    process.stdout.write(`${JSON.stringify(figures, null, 2)}\n`);
  } finally {
    await edge.stop();
    rmSync(stateDir, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  runStandalone().catch((err: unknown) => {
    process.stderr.write(`bench/services: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  });
}
