import { env, runInDurableObject } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import type { ServiceRecord } from '../../workers/shared/services/records.js';
import { ADMIN, ALICE, call, errorCode, freshResource } from './services-fixtures.js';

const record = (name: string, extra: Record<string, unknown> = {}) => ({ name, ...extra });

async function put(resource: string, id: string, body: unknown, token = ADMIN) {
  return call('PUT', `/services/${resource}/records/${id}`, { token, body });
}

async function count(resource: string): Promise<number> {
  const stub = env.SERVICE_REGISTRY.getByName(resource);
  return runInDurableObject(stub, (_instance, state) => {
    // An object nobody wrote to has no tables at all.
    const hasRecords = state.storage.sql.exec(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'records'`).toArray().length > 0;
    return hasRecords ? state.storage.sql.exec<{ n: number }>('SELECT COUNT(*) AS n FROM records').one().n : 0;
  });
}

describe('service records: add, get, list, delete', () => {
  it('adds a record with the classic ServiceInfo fields and reads it back', async () => {
    const resource = freshResource();
    const body = {
      name: 'builder',
      version: '1.2.3',
      description: 'a build sidecar',
      endpoint: 'http://127.0.0.2:5050',
      peerId: '12D3KooWQYV9dGMFoRzNStwpXztXaBUjtPqi6aU76ZgUriHhKust',
      multiaddrs: ['/ip4/127.0.0.2/tcp/4001'],
      info: {
        contentHash: 'sha256:' + 'a'.repeat(64),
        dockerImageHash: 'sha256:' + 'b'.repeat(64),
        rttSoftMs: 5,
        rttHardMs: 50,
        cpu: 1.5,
        memoryMb: 2048,
        extra: { zone: 'lab', gpu: false },
      },
      tags: ['ci', 'amd64'],
      category: 'sidecar',
      ttlSeconds: 30,
    };
    const created = await put(resource, 'node-1', body, ALICE);
    expect(created.status).toBe(201);
    const stored = (await created.json()) as ServiceRecord;
    expect(stored).toMatchObject({ ...body, resource, id: 'node-1', owner: 'alice' });
    expect(Date.parse(stored.expiresAt) - Date.parse(stored.updatedAt)).toBe(30_000);

    const got = await call('GET', `/services/${resource}/records/node-1`);
    expect(got.status).toBe(200);
    expect(await got.json()).toEqual(stored);

    const updated = await put(resource, 'node-1', { ...body, version: '1.2.4' }, ALICE);
    expect(updated.status).toBe(200);
    const after = (await updated.json()) as ServiceRecord;
    expect(after.version).toBe('1.2.4');
    expect(after.createdAt).toBe(stored.createdAt);

    const res = await call('GET', `/services/${resource}`);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ name: resource, owner: 'alice', records: 1 });
  });

  it('deletes a record; a second delete and a get are 404', async () => {
    const resource = freshResource();
    expect((await put(resource, 'gone', record('x'))).status).toBe(201);
    const del = await call('DELETE', `/services/${resource}/records/gone`, { token: ADMIN });
    expect(del.status).toBe(200);
    expect(((await del.json()) as { deleted: ServiceRecord }).deleted.id).toBe('gone');
    const again = await call('DELETE', `/services/${resource}/records/gone`, { token: ADMIN });
    expect(again.status).toBe(404);
    expect(await errorCode(again)).toBe('NOT_FOUND');
    expect((await call('GET', `/services/${resource}/records/gone`)).status).toBe(404);
  });

  it('pages through a list with limit and cursor, in id order, without repeats', async () => {
    const resource = freshResource();
    const ids = Array.from({ length: 23 }, (_, i) => `svc-${String(i).padStart(2, '0')}`);
    for (const id of ids) expect((await put(resource, id, record(id))).status).toBe(201);
    const seen: string[] = [];
    let cursor: string | undefined;
    for (let page = 0; page < 10; page++) {
      const res = await call('GET', `/services/${resource}/records?limit=5${cursor ? `&cursor=${cursor}` : ''}`);
      expect(res.status).toBe(200);
      const body = (await res.json()) as { records: ServiceRecord[]; nextCursor?: string };
      expect(body.records.length).toBeLessThanOrEqual(5);
      seen.push(...body.records.map((r) => r.id));
      cursor = body.nextCursor;
      if (!cursor) break;
    }
    expect(seen).toEqual(ids);
    expect((await call('GET', `/services/${resource}/records?limit=0`)).status).toBe(400);
    expect((await call('GET', `/services/${resource}/records?limit=501`)).status).toBe(400);
    expect((await call('GET', `/services/${resource}/records?cursor=%%%`)).status).toBe(400);
  });

  it('creates resources explicitly and lists them from the index', async () => {
    const resource = freshResource('listed');
    const created = await call('PUT', `/services/${resource}`, { token: ADMIN, body: { description: 'the lab' } });
    expect(created.status).toBe(201);
    expect(await created.json()).toMatchObject({ name: resource, owner: 'admin', description: 'the lab', records: 0 });
    const implicit = freshResource('listed');
    expect((await put(implicit, 'a', record('a'))).status).toBe(201);
    const names: string[] = [];
    let cursor: string | undefined;
    for (let page = 0; page < 50; page++) {
      const res = await call('GET', `/services?limit=100${cursor ? `&cursor=${cursor}` : ''}`);
      const body = (await res.json()) as { resources: { name: string }[]; nextCursor?: string };
      names.push(...body.resources.map((r) => r.name));
      cursor = body.nextCursor;
      if (!cursor) break;
    }
    expect(names).toContain(resource);
    expect(names).toContain(implicit);
    expect((await call('GET', `/services/${freshResource('missing')}`)).status).toBe(404);
  });

  it('a resource whose index entry was never written (the index call failed) is listed again by its next record write', async () => {
    const resource = freshResource('healed');
    expect((await put(resource, 'a', record('a'))).status).toBe(201);
    const indexed = (name: string) =>
      runInDurableObject(env.SERVICE_REGISTRY.getByName('_index'), (_instance, state) => state.storage.sql.exec('SELECT 1 FROM resources WHERE name = ?', name).toArray().length === 1);
    expect(await indexed(resource)).toBe(true);
    // The state a failed index call leaves: the resource exists, the index does not list it.
    await runInDurableObject(env.SERVICE_REGISTRY.getByName('_index'), (_instance, state) => void state.storage.sql.exec('DELETE FROM resources WHERE name = ?', resource));
    await runInDurableObject(env.SERVICE_REGISTRY.getByName(resource), (_instance, state) => void state.storage.sql.exec(`DELETE FROM meta WHERE key = 'indexed'`));
    expect(await indexed(resource)).toBe(false);
    expect((await put(resource, 'b', record('b'))).status).toBe(201);
    expect(await indexed(resource)).toBe(true);
  });
});

describe('service records: search', () => {
  it('scores name and id matches above tag and description matches, filters tags (all-of) and category, and honours limit', async () => {
    const resource = freshResource('search');
    await put(resource, 'cache-1', record('cache', { tags: ['fast', 'amd64'], category: 'storage' }));
    await put(resource, 'cache-2', record('cache', { tags: ['amd64'], category: 'storage' }));
    await put(resource, 'web-1', record('web', { description: 'serves the cache page', tags: ['cache'], category: 'frontend' }));
    await put(resource, 'db-1', record('postgres', { description: 'no match here', tags: ['fast'], category: 'storage' }));

    const res = await call('GET', `/services/${resource}/search?q=cache`);
    expect(res.status).toBe(200);
    const { hits } = (await res.json()) as { hits: { score: number; record: ServiceRecord }[] };
    expect(hits.map((h) => h.record.id)).toEqual(['cache-1', 'cache-2', 'web-1']);
    expect(hits[0]!.score).toBeGreaterThan(hits[2]!.score);

    const tagged = (await (await call('GET', `/services/${resource}/search?tags=fast,amd64`)).json()) as { hits: { record: ServiceRecord }[] };
    expect(tagged.hits.map((h) => h.record.id)).toEqual(['cache-1']);

    // Tag filters match whole tags only.
    const partial = (await (await call('GET', `/services/${resource}/search?tags=amd`)).json()) as { hits: unknown[] };
    expect(partial.hits).toHaveLength(0);

    const category = (await (await call('GET', `/services/${resource}/search?category=storage&q=fast`)).json()) as { hits: { record: ServiceRecord }[] };
    expect(category.hits.map((h) => h.record.id).sort()).toEqual(['cache-1', 'db-1']);

    const limited = (await (await call('GET', `/services/${resource}/search?category=storage&limit=2`)).json()) as { hits: unknown[] };
    expect(limited.hits).toHaveLength(2);

    const none = (await (await call('GET', `/services/${resource}/search?q=cache%20nothing`)).json()) as { hits: unknown[] };
    expect(none.hits).toHaveLength(0);
    expect((await call('GET', `/services/${resource}/search?limit=1000`)).status).toBe(400);
  });
});

describe('service records: bad input is a 4xx and changes nothing', () => {
  const cases: [string, { raw?: string; body?: unknown }, number, string][] = [
    ['bad JSON', { raw: '{"name": ' }, 400, 'INVALID_REQUEST'],
    ['a JSON array', { body: [1, 2] }, 400, 'INVALID_REQUEST'],
    ['an unknown field', { body: { name: 'x', colour: 'red' } }, 400, 'INVALID_REQUEST'],
    ['an unknown info field', { body: { name: 'x', info: { gpus: 2 } } }, 400, 'INVALID_REQUEST'],
    ['nested extra info', { body: { name: 'x', info: { extra: { a: { b: 1 } } } } }, 400, 'INVALID_REQUEST'],
    ['a missing name', { body: { tags: ['a'] } }, 400, 'INVALID_REQUEST'],
    ['a bad endpoint', { body: { name: 'x', endpoint: 'ftp://host/' } }, 400, 'INVALID_REQUEST'],
    ['a bad tag', { body: { name: 'x', tags: ['Not A Tag'] } }, 400, 'INVALID_REQUEST'],
    ['soft RTT above hard RTT', { body: { name: 'x', info: { rttSoftMs: 10, rttHardMs: 5 } } }, 400, 'INVALID_REQUEST'],
    ['a zero TTL', { body: { name: 'x', ttlSeconds: 0 } }, 400, 'INVALID_REQUEST'],
    ['an oversized record', { body: { name: 'x', description: 'd'.repeat(1000), info: { extra: Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`k${i}`, 'v'.repeat(500)])) } } }, 413, 'PAYLOAD_TOO_LARGE'],
    ['no body', {}, 400, 'INVALID_REQUEST'],
  ];
  for (const [what, input, status, code] of cases) {
    it(`rejects ${what}`, async () => {
      const resource = freshResource('bad');
      const res = await call('PUT', `/services/${resource}/records/victim`, { token: ADMIN, ...input });
      expect(res.status).toBe(status);
      expect(await errorCode(res)).toBe(code);
      expect(await count(resource)).toBe(0);
    });
  }

  for (const [what, path] of [
    ['an upper-case resource', '/services/Bad/records/a'],
    ['a resource with ..', '/services/../records/a'],
    ['a resource with a leading dot', '/services/.hidden/records/a'],
    ['an id with a slash', '/services/ok/records/a%2Fb'],
    ['an id with a space', '/services/ok/records/a%20b'],
    ['an over-long id', `/services/ok/records/${'a'.repeat(129)}`],
  ] as const) {
    it(`rejects ${what}`, async () => {
      const res = await call('PUT', path, { token: ADMIN, body: { name: 'x' } });
      expect(res.status).toBeGreaterThanOrEqual(400);
      expect(res.status).toBeLessThan(500);
      expect(await count('ok')).toBe(0);
    });
  }

  it('rejects a body larger than the cap even without Content-Length', async () => {
    const resource = freshResource('bad');
    const big = new TextEncoder().encode(JSON.stringify({ name: 'x', description: 'y'.repeat(20_000) }));
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let i = 0; i < big.length; i += 4096) controller.enqueue(big.subarray(i, i + 4096));
        controller.close();
      },
    });
    const request = new Request(`http://edge/services/${resource}/records/x`, { method: 'PUT', body: stream, headers: { Authorization: `Bearer ${ADMIN}` }, duplex: 'half' } as RequestInit);
    const { SELF } = await import('cloudflare:test');
    const res = await SELF.fetch(request);
    expect(res.status).toBe(413);
    expect(await count(resource)).toBe(0);
  });
});
