import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IDLE_STORAGE_DROP_MS } from '../../durable-objects/constants.js';
import { startEdge, type RunningEdge } from '../../scripts/edge-launcher.js';
import { TEST_WRANGLER_HOME } from '../helpers/edge.js';
import { FakeUpstream } from '../helpers/fake-upstream.js';
import { makeTempDir } from '../helpers/processes.js';
import { sqliteSchemaRows } from '../helpers/sqlite-file.js';

// 1,000 anonymous GETs of random digests through the launched edge (the runtime of `npm start`) leave
// no BlobLease storage behind: every probe reaches its lease object, and once the edge is stopped
// none of those objects' SQLite files holds a table (nor, with it, an alarm). The Workers pool slows
// down with every new Durable Object, so test/workers/no-state-from-nothing.test.ts probes fewer.
// The edge runs quiet, as most tests run it: its output must still be drained, or the runtime blocks
// on a full pipe after a few hundred logged 404s.

const GETS = 1_000;
const CONCURRENCY = 16;
const PROBE_DEADLINE_MS = 120_000;

const randomDigest = () => `sha256:${[...crypto.getRandomValues(new Uint8Array(32))].map((b) => b.toString(16).padStart(2, '0')).join('')}`;

let fake: FakeUpstream;
let edge: RunningEdge | undefined;
const state = makeTempDir('no-state');

beforeAll(async () => {
  fake = new FakeUpstream();
  await fake.start();
  edge = await startEdge({ stateDir: state.dir, upstream: fake.url, wranglerHome: TEST_WRANGLER_HOME, logs: false });
}, 120_000);

afterAll(async () => {
  await edge?.stop();
  await fake?.stop();
  state.remove();
}, 60_000);

/** Every file under `dir`, recursively. */
function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    return entry.isDirectory() ? filesUnder(full) : [full];
  });
}

describe('no state from nothing (launched edge)', () => {
  it(`${GETS} anonymous GETs of random digests leave no BlobLease storage behind`, async () => {
    const deadline = Date.now() + PROBE_DEADLINE_MS;
    const statuses = new Map<string, number>();
    let sent = 0;
    const worker = async () => {
      while (sent < GETS && Date.now() < deadline) {
        sent++;
        const res = await fetch(`${edge!.url}/v2/library/probe/blobs/${randomDigest()}`, { signal: AbortSignal.timeout(20_000) });
        const body = (await res.json()) as { errors?: { code: string }[] };
        const key = `${res.status} ${body.errors?.[0]?.code}`;
        statuses.set(key, (statuses.get(key) ?? 0) + 1);
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    expect(Object.fromEntries(statuses)).toEqual({ '404 BLOB_UNKNOWN': GETS });

    // Each lease drops its storage by an alarm IDLE_STORAGE_DROP_MS after it ended; stopping the edge closes the files.
    await sleep(IDLE_STORAGE_DROP_MS + 3_000);
    await edge!.stop();
    edge = undefined;

    // One file per object, named by its 64-hex ID (the namespace's metadata.sqlite is the runtime's own).
    const leaseFiles = filesUnder(state.dir).filter((file) => file.includes('BlobLease') && /\/[0-9a-f]{64}\.sqlite$/.test(file));
    // Every probe reached its own lease object: the runtime made a file for each…
    expect(leaseFiles.length).toBeGreaterThanOrEqual(GETS);
    // …and none of them kept a table, nor a write-ahead log that could hold one.
    const kept = leaseFiles.filter((file) => sqliteSchemaRows(file) > 0 || (existsSync(`${file}-wal`) && statSync(`${file}-wal`).size > 0));
    expect(kept).toEqual([]);
  }, PROBE_DEADLINE_MS + 60_000);
});
