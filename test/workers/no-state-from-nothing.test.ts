import { env, listDurableObjectIds, runDurableObjectAlarm, runInDurableObject, SELF } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { freshResource, sseReader } from './services-fixtures.js';

// Anonymous requests for things that do not exist must not leave state behind: not a BlobLease per
// random digest, not a ServiceRegistry object per random resource name.

// The Workers pool slows down with every new Durable Object (each one costs more than the last:
// 60 probes take 1 s, 700 take 120 s, even for objects that write nothing), so the test probes 300;
// test/node/no-state-from-nothing.test.ts sends 1,000 through the launched edge.
const GETS = 300;
const CONCURRENCY = 16;
const DEADLINE_MS = 120_000;

const randomDigest = () => `sha256:${[...crypto.getRandomValues(new Uint8Array(32))].map((b) => b.toString(16).padStart(2, '0')).join('')}`;

/** Tables in an object's storage (its alarm lives in one of them too); [] for an object that stores nothing. */
function tablesOf<T extends Rpc.DurableObjectBranded | undefined>(stub: DurableObjectStub<T>): Promise<string[]> {
  return runInDurableObject(stub, (_instance, state) => state.storage.sql.exec<{ name: string }>(`SELECT name FROM sqlite_master WHERE type = 'table'`).toArray().map((row) => row.name));
}

async function errorCodeOf(res: Response): Promise<string | undefined> {
  return ((await res.json()) as { errors?: { code: string }[] }).errors?.[0]?.code;
}

describe('no state from nothing', () => {
  it(`${GETS} anonymous GETs of random digests (and of unknown manifests) leave no BlobLease storage behind`, async () => {
    const deadline = Date.now() + DEADLINE_MS;
    const digests = Array.from({ length: GETS }, randomDigest);
    const statuses = new Map<string, number>();
    let next = 0;
    const worker = async () => {
      while (next < digests.length && Date.now() < deadline) {
        const digest = digests[next++]!;
        const res = await SELF.fetch(`http://mirror/v2/library/probe/blobs/${digest}`, { signal: AbortSignal.timeout(20_000) });
        const key = `${res.status} ${await errorCodeOf(res)}`;
        statuses.set(key, (statuses.get(key) ?? 0) + 1);
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    expect(Object.fromEntries(statuses)).toEqual({ '404 BLOB_UNKNOWN': GETS });

    // Manifests share the same kind of lease, keyed `manifest:<registry>/<repository>@<reference>`.
    const leaseKeys = [...digests];
    for (const reference of ['latest', randomDigest()]) {
      const repository = `library/probe-${crypto.randomUUID().slice(0, 8)}`;
      const res = await SELF.fetch(`http://mirror/v2/${repository}/manifests/${reference}`);
      expect(res.status).toBe(404);
      expect(await errorCodeOf(res)).toBe('MANIFEST_UNKNOWN');
      leaseKeys.push(`manifest:docker.io/${repository}@${reference}`);
    }

    // Every probed key reached its lease object (each has a file)…
    const listed = new Set((await listDurableObjectIds(env.BLOB_LEASE)).map((id) => id.toString()));
    expect(leaseKeys.filter((key) => !listed.has(env.BLOB_LEASE.idFromName(key).toString()))).toEqual([]);
    // …and once their drop alarm has run (a few seconds after the lease ended), none kept a table or an alarm.
    const kept: string[] = [];
    for (const key of leaseKeys) {
      expect(Date.now()).toBeLessThan(deadline);
      const stub = env.BLOB_LEASE.getByName(key);
      await runDurableObjectAlarm(stub);
      const tables = await tablesOf(stub);
      const alarm = await runInDurableObject(stub, (_instance, state) => state.storage.getAlarm());
      if (tables.length > 0 || alarm !== null) kept.push(`${key}: ${tables.join(',')} alarm ${alarm}`);
    }
    expect(kept).toEqual([]);
  }, DEADLINE_MS + 30_000);

  it('reads of unknown service resources create no object; a watch of one stores nothing', async () => {
    const names = Array.from({ length: 20 }, () => freshResource('probe'));
    for (const name of names) {
      expect((await SELF.fetch(`http://edge/services/${name}`)).status).toBe(404);
      expect(await (await SELF.fetch(`http://edge/services/${name}/records`)).json()).toEqual({ records: [] });
      expect((await SELF.fetch(`http://edge/services/${name}/records/some-id`)).status).toBe(404);
      expect(await (await SELF.fetch(`http://edge/services/${name}/search?q=x`)).json()).toEqual({ hits: [] });
    }
    const listed = new Set((await listDurableObjectIds(env.SERVICE_REGISTRY)).map((id) => id.toString()));
    expect(names.filter((name) => listed.has(env.SERVICE_REGISTRY.idFromName(name).toString()))).toEqual([]);

    // A watch may wait for a resource to appear: it opens on the resource's object, which writes nothing.
    const watched = freshResource('probe-watch');
    const events = sseReader(await SELF.fetch(`http://edge/services/${watched}/watch`));
    try {
      expect((await events.next()).event).toBe('ready');
    } finally {
      await events.close();
    }
    expect(await tablesOf(env.SERVICE_REGISTRY.getByName(watched))).toEqual([]);
  });
});
