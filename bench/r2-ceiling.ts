import path from 'node:path';
import { bundleWorker, REPO_ROOT, type ExtraWorker, type RunningEdge } from '../scripts/edge-launcher.js';
import { median } from './median.js';
import type { PutResult } from './r2-put-worker.js';

// The local R2 write ceiling, measured in the same run: a bench-only Worker bound to the edge's own
// bucket puts N bytes of known length and nothing else (bench/r2-put-worker.ts).

const WORKER_NAME = 'r2-put-bench';

export async function r2PutWorker(workDir: string): Promise<ExtraWorker> {
  const scriptPath = await bundleWorker(path.join(REPO_ROOT, 'bench/r2-put-worker.ts'), path.join(workDir, 'r2-put-worker'));
  return { name: WORKER_NAME, modules: true, modulesRoot: path.dirname(scriptPath), scriptPath, compatibilityDate: '2026-04-26', r2Buckets: { BLOBS: 'fastreg-blobs' } };
}

export interface R2Ceiling {
  /** Median MB/s of one put of the whole length, and of pieces as the edge writes them. */
  singlePutMBps: number;
  piecesMBps: number;
  pieceBytes: number;
  /** The better of the two: what the store allows. */
  medianMBps: number;
  samples: PutResult[];
}

/** `afterRound` runs after each round's puts: the cold pulls it is compared with, interleaved so both see the same machine. */
export async function measureR2Ceiling(
  edge: RunningEdge,
  bytes: number,
  pieceBytes: number,
  runs: number,
  log: (line: string) => void,
  afterRound?: (round: number) => Promise<void>,
): Promise<R2Ceiling> {
  const worker = await edge.getWorker(WORKER_NAME);
  const samples: PutResult[] = [];
  for (let i = 0; i < runs; i++) {
    for (const pieces of [0, pieceBytes]) {
      const res = await worker.fetch(`http://r2-bench/?bytes=${bytes}&pieceBytes=${pieces}`);
      if (res.status !== 200) throw new Error(`R2 put bench answered ${res.status}: ${await res.text()}`);
      const result = JSON.parse(await res.text()) as PutResult;
      samples.push(result);
      log(`  R2 put #${i + 1} ${pieces === 0 ? 'one put   ' : 'pieces    '}        ${result.mbPerSecond.toFixed(0).padStart(6)} MB/s  (${result.seconds.toFixed(2)} s)`);
    }
    await afterRound?.(i);
  }
  const singlePutMBps = median(samples.filter((s) => s.pieceBytes === 0).map((s) => s.mbPerSecond));
  const piecesMBps = median(samples.filter((s) => s.pieceBytes !== 0).map((s) => s.mbPerSecond));
  return { singlePutMBps, piecesMBps, pieceBytes, medianMBps: Math.max(singlePutMBps, piecesMBps), samples };
}
