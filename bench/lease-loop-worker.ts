// Bench-only Worker (never part of the deployed bundle): started next to the edge by bench/leases.ts,
// it binds the edge's BlobLease class and times Worker→DO RPCs from inside workerd, so the figures
// are the lease actor's and not the Node→Miniflare proxy's. GET /?mode=…&ops=…&budgetMs=… runs one
// bounded loop (count and time) and answers the timings as JSON.
//
// Types are declared structurally here so the file type-checks with the Node benchmark code.

interface LeaseAnswer {
  kind: string;
  leaseId?: string;
}

interface LeaseStub {
  acquire(holder: string, options?: { ttlMs?: number; maxHolders?: number }): Promise<LeaseAnswer>;
  release(leaseId: string): Promise<LeaseAnswer>;
  complete(leaseId: string, size: number, location: string): Promise<LeaseAnswer>;
}

interface Env {
  BLOB_LEASE: { getByName(name: string): LeaseStub };
}

/** cycle: acquire→Granted→release (the write path, repeatable on one key); complete: acquire→Granted→complete (each key once); read: acquire on stored keys. */
type Mode = 'cycle' | 'complete' | 'read';

export interface LoopRequest {
  mode: Mode;
  /** Key prefix; op i uses key `${prefix}` when keys is 1, else `${prefix}-${i % keys}`. */
  prefix: string;
  keys: number;
  ops: number;
  budgetMs: number;
  concurrency: number;
}

export interface Percentiles {
  p50: number;
  p99: number;
  max: number;
}

export interface LoopResult extends LoopRequest {
  /** Operations done: an op is one acquire plus, for cycle/complete, the call that ends the lease. */
  done: number;
  rpcs: number;
  seconds: number;
  opsPerSec: number;
  rpcsPerSec: number;
  /** Answers other than the expected one (e.g. Leased), counted, not thrown. */
  unexpected: number;
  errors: number;
  firstError?: string;
  latencyMs: { op: Percentiles; acquire: Percentiles; finish?: Percentiles };
  /** Smallest non-zero clock step seen; workerd's clock may be coarse. */
  clockResolutionMs: number;
}

const LIMITS = { ops: 200_000, budgetMs: 60_000, concurrency: 64, keys: 100_000 };
const ACQUIRE = { ttlMs: 60_000, maxHolders: 64 };

export default {
  async fetch(request: Request, env: Env): Promise<Response> {
    const params = new URL(request.url).searchParams;
    const int = (name: string, fallback: number, max: number) => Math.min(max, Math.max(1, Math.floor(Number(params.get(name) ?? fallback) || fallback)));
    const mode = params.get('mode') as Mode;
    if (!['cycle', 'complete', 'read'].includes(mode)) return new Response('mode must be cycle, complete or read', { status: 400 });
    const spec: LoopRequest = {
      mode,
      prefix: (params.get('prefix') ?? 'bench').slice(0, 200),
      keys: int('keys', 1, LIMITS.keys),
      ops: int('ops', 1_000, LIMITS.ops),
      budgetMs: int('budgetMs', 10_000, LIMITS.budgetMs),
      concurrency: int('concurrency', 1, LIMITS.concurrency),
    };
    return Response.json(await runLoop(env, spec));
  },
};

async function runLoop(env: Env, spec: LoopRequest): Promise<LoopResult> {
  const opMs: number[] = [];
  const acquireMs: number[] = [];
  const finishMs: number[] = [];
  let next = 0;
  let done = 0;
  let rpcs = 0;
  let unexpected = 0;
  let errors = 0;
  let firstError: string | undefined;
  let resolution = Infinity;
  const key = (i: number) => (spec.keys === 1 ? spec.prefix : `${spec.prefix}-${i % spec.keys}`);
  const started = performance.now();
  const stopAt = started + spec.budgetMs;

  const worker = async (lane: number) => {
    while (next < spec.ops && performance.now() < stopAt) {
      const i = next++;
      const stub = env.BLOB_LEASE.getByName(key(i));
      try {
        const t0 = performance.now();
        const answer = await stub.acquire(`bench-${lane}`, ACQUIRE);
        const t1 = performance.now();
        rpcs++;
        acquireMs.push(t1 - t0);
        if (t1 > t0) resolution = Math.min(resolution, t1 - t0);
        if (spec.mode === 'read') {
          if (answer.kind !== 'AlreadyStored') unexpected++;
          opMs.push(t1 - t0);
        } else if (answer.kind !== 'Granted' || !answer.leaseId) {
          unexpected++;
          opMs.push(t1 - t0);
        } else {
          const ended = spec.mode === 'cycle' ? await stub.release(answer.leaseId) : await stub.complete(answer.leaseId, 1, `bench/${key(i)}`);
          const t2 = performance.now();
          rpcs++;
          finishMs.push(t2 - t1);
          opMs.push(t2 - t0);
          if (ended.kind !== (spec.mode === 'cycle' ? 'Released' : 'Stored')) unexpected++;
        }
        done++;
      } catch (err) {
        errors++;
        firstError ??= err instanceof Error ? err.message : String(err);
        if (errors > 100) return;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(spec.concurrency, spec.ops) }, (_, lane) => worker(lane)));
  const seconds = (performance.now() - started) / 1000;
  return {
    ...spec,
    done,
    rpcs,
    seconds: round(seconds),
    opsPerSec: round(done / seconds),
    rpcsPerSec: round(rpcs / seconds),
    unexpected,
    errors,
    ...(firstError ? { firstError } : {}),
    latencyMs: { op: percentiles(opMs), acquire: percentiles(acquireMs), ...(finishMs.length ? { finish: percentiles(finishMs) } : {}) },
    clockResolutionMs: Number.isFinite(resolution) ? round(resolution, 4) : 0,
  };
}

function percentiles(values: number[]): Percentiles {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number) => round(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0, 3);
  return { p50: at(0.5), p99: at(0.99), max: round(sorted.at(-1) ?? 0, 3) };
}

function round(n: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}
