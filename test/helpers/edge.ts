import { tmpdir } from 'node:os';
import path from 'node:path';
import { startEdge, type RunningEdge, type StartEdgeOptions } from '../../scripts/edge-launcher.js';
import { makeTempDir } from './processes.js';
import { TEST_ENROLL_TOKEN } from './sidecar-cluster.js';

/** wrangler's config/log dir for every edge a test process starts; outlives each edge's state dir. */
export const TEST_WRANGLER_HOME = path.join(tmpdir(), 'fastreg-test-wrangler');

// The edge as the Node tests run it: the same launcher as `npm start`, state in a temp dir.

export interface TestEdge extends RunningEdge {
  stateDir: string;
  /** GET /stats as JSON. */
  stats(): Promise<Record<string, unknown>>;
}

export async function startTestEdge(options: Omit<StartEdgeOptions, 'stateDir'> = {}): Promise<TestEdge> {
  const temp = makeTempDir('edge');
  let edge: RunningEdge;
  try {
    edge = await startEdge({ logs: process.env.FASTREG_TEST_LOGS === '1', wranglerHome: TEST_WRANGLER_HOME, enrollToken: TEST_ENROLL_TOKEN, ...options, stateDir: temp.dir });
  } catch (err) {
    temp.remove();
    throw err;
  }
  return {
    ...edge,
    stateDir: temp.dir,
    stats: async () => {
      const response = await fetch(`${edge.url}/stats`, { signal: AbortSignal.timeout(10_000) });
      if (!response.ok) throw new Error(`GET /stats: ${response.status} ${await response.text()}`);
      return (await response.json()) as Record<string, unknown>;
    },
    stop: async () => {
      await edge.stop();
      temp.remove();
    },
  };
}
