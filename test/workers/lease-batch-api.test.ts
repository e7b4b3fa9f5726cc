import { env, listDurableObjectIds, SELF } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { LEASE_SHARD_COUNT } from '../../durable-objects/constants.js';
import { shardIndex } from '../../durable-objects/lease-shard-client.js';

const TOKEN = 'test-token-0123456789abcdef';
const TTL_MS = 2_000; // LEASE_TTL_MS in vitest.config.ts
const CAPACITY = 20; // LEASE_SHARD_CAPACITY in vitest.config.ts

interface OciBody {
  errors: { code: string; message: string; detail?: unknown }[];
}
type KeyResult = { key: string; kind: 'Granted' | 'AlreadyStored' | 'Leased'; expiresAt?: number };

function call(path: string, body?: unknown, init: { token?: string | null; raw?: string } = {}): Promise<Response> {
  const headers: Record<string, string> = { 'Content-Type': 'application/json' };
  const token = init.token === undefined ? TOKEN : init.token;
  if (token !== null) headers.Authorization = `Bearer ${token}`;
  const method = body === undefined && init.raw === undefined ? 'GET' : 'POST';
  return SELF.fetch(`http://mirror/leases${path}`, { method, headers, body: init.raw ?? (body === undefined ? undefined : JSON.stringify(body)) });
}

async function canOffload(keys: string[], holder: string): Promise<KeyResult[]> {
  const res = await call('/can-offload', { version: 1, keys, holder });
  expect(res.status).toBe(200);
  return ((await res.json()) as { results: KeyResult[] }).results;
}

async function register(keys: string[]): Promise<{ stored: number; evicted: number }> {
  const res = await call('/register', { version: 1, entries: keys.map((key) => ({ key, value: `v:${key}`, size: key.length })) });
  expect(res.status).toBe(200);
  return (await res.json()) as { stored: number; evicted: number };
}

async function expectError(res: Response, status: number, code: string): Promise<OciBody> {
  expect(res.status).toBe(status);
  expect(res.headers.get('Content-Type')).toContain('application/json');
  const body = (await res.json()) as OciBody;
  expect(body.errors[0]?.code).toBe(code);
  return body;
}

let n = 0;
const unique = (label: string) => `${label}-${++n}-${crypto.randomUUID()}`;

describe('lease API auth and protocol', () => {
  it('answers 401 without a token or with a wrong one', async () => {
    await expectError(await call('/can-offload', { version: 1, keys: ['a'], holder: 'w' }, { token: null }), 401, 'UNAUTHORIZED');
    const wrong = await call('/can-offload', { version: 1, keys: ['a'], holder: 'w' }, { token: 'wrong-token-0123456789' });
    await expectError(wrong, 401, 'UNAUTHORIZED');
    expect(wrong.headers.get('WWW-Authenticate')).toContain('Bearer');
    await expectError(await call('/stats', undefined, { token: null }), 401, 'UNAUTHORIZED');
  });

  it('answers 400 naming the supported version for an unknown or missing version', async () => {
    const body = await expectError(await call('/can-offload', { version: 2, keys: ['a'], holder: 'w' }), 400, 'INVALID_REQUEST');
    expect(body.errors[0]?.message).toMatch(/unsupported lease protocol version 2.*version 1/);
    expect(body.errors[0]?.detail).toEqual({ supported: [1] });
    await expectError(await call('/register', { entries: [{ key: 'a' }] }), 400, 'INVALID_REQUEST');
  });
});

describe('can-offload and register', () => {
  it('grants a fresh key, then AlreadyStored once registered', async () => {
    const key = unique('block');
    expect(await canOffload([key], 'worker-a')).toEqual([{ key, kind: 'Granted', expiresAt: expect.any(Number) }]);
    expect(await register([key])).toEqual({ version: 1, stored: 1, evicted: 0, skipped: 0 });
    expect(await canOffload([key], 'worker-b')).toEqual([{ key, kind: 'AlreadyStored', size: key.length }]);
  });

  it('answers Leased to another client while the key is held, and keeps request order', async () => {
    const [held, free] = [unique('held'), unique('free')];
    const first = await canOffload([held], 'worker-a');
    expect(first[0]?.kind).toBe('Granted');
    const second = await canOffload([free, held], 'worker-b');
    expect(second.map((r) => [r.key, r.kind])).toEqual([
      [free, 'Granted'],
      [held, 'Leased'],
    ]);
    expect(second[1]?.expiresAt).toBe(first[0]?.expiresAt);
    // The holder asking again keeps (and refreshes) its lease.
    expect((await canOffload([held], 'worker-a'))[0]?.kind).toBe('Granted');
  });

  it('a lease runs out after its TTL and the key can be granted to someone else', async () => {
    const key = unique('expiring');
    expect((await canOffload([key], 'worker-a'))[0]?.kind).toBe('Granted');
    expect((await canOffload([key], 'worker-b'))[0]?.kind).toBe('Leased');
    await new Promise((resolve) => setTimeout(resolve, TTL_MS + 150));
    expect((await canOffload([key], 'worker-b'))[0]?.kind).toBe('Granted');
    const stats = (await (await call('/stats')).json()) as Record<string, number>;
    expect(stats.expired).toBeGreaterThanOrEqual(1);
    expect(stats.shards).toBe(LEASE_SHARD_COUNT);
  });
});

describe('match-prefix', () => {
  it('returns the longest registered prefix of the sequence', async () => {
    const seq = Array.from({ length: 6 }, (_, i) => unique(`chain${i}`));
    await register([seq[0]!, seq[1]!, seq[2]!, seq[4]!]);
    const res = await call('/match-prefix', { version: 1, keys: seq });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ version: 1, count: 3, lastKey: seq[2], lastValue: `v:${seq[2]}` });
    const none = await call('/match-prefix', { version: 1, keys: [seq[3]!, seq[0]!] });
    expect(await none.json()).toEqual({ version: 1, count: 0 });
    const all = await call('/match-prefix', { version: 1, keys: seq.slice(0, 3) });
    expect(await all.json()).toMatchObject({ count: 3, lastKey: seq[2] });
  });
});

describe('capacity', () => {
  it('evicts the least recently registered/used keys of a shard beyond its capacity', async () => {
    const sameShard: string[] = [];
    for (let i = 0; sameShard.length < 2 * CAPACITY + 3 && i < 10_000; i++) {
      const key = `evict-${n}-${i}`;
      if (shardIndex(key) === 3) sameShard.push(key);
    }
    n++;
    expect(sameShard).toHaveLength(2 * CAPACITY + 3);
    // Other tests in this file may have registered keys on this shard: fill it to capacity first.
    const fillers = sameShard.splice(0, CAPACITY);
    await register(fillers);
    const [oldest, ...rest] = sameShard;
    expect(await register(sameShard.slice(0, CAPACITY))).toMatchObject({ stored: CAPACITY, evicted: CAPACITY });
    expect(await (await call('/match-prefix', { version: 1, keys: fillers.slice(0, 1) })).json()).toMatchObject({ count: 0 });
    // Using the oldest key makes it the most recently used.
    expect(await (await call('/match-prefix', { version: 1, keys: [oldest] })).json()).toMatchObject({ count: 1 });
    expect(await register(sameShard.slice(CAPACITY))).toMatchObject({ stored: 3, evicted: 3 });

    const after = await canOffload(sameShard, 'checker');
    const kinds = Object.fromEntries(after.map((r) => [r.key, r.kind]));
    expect(kinds[oldest!]).toBe('AlreadyStored');
    expect(rest.slice(0, 3).map((k) => kinds[k])).toEqual(['Granted', 'Granted', 'Granted']);
    expect(rest.slice(3).every((k) => kinds[k] === 'AlreadyStored')).toBe(true);
    const stats = (await (await call('/stats')).json()) as Record<string, number>;
    expect(stats.evicted).toBeGreaterThanOrEqual(3);
  });
});

describe('bad input changes nothing', () => {
  it('rejects bad JSON, wrong types, empty keys and too many keys with 400', async () => {
    await expectError(await call('/can-offload', undefined, { raw: '{"version":1,' }), 400, 'INVALID_REQUEST');
    await expectError(await call('/can-offload', { version: 1, keys: 'abc', holder: 'w' }), 400, 'INVALID_REQUEST');
    await expectError(await call('/can-offload', { version: 1, keys: [''], holder: 'w' }), 400, 'INVALID_REQUEST');
    await expectError(await call('/can-offload', { version: 1, keys: ['a'.repeat(5_000)], holder: 'w' }), 400, 'INVALID_REQUEST');
    const tooMany = Array.from({ length: 1_001 }, (_, i) => `k${i}`);
    const body = await expectError(await call('/match-prefix', { version: 1, keys: tooMany }), 400, 'INVALID_REQUEST');
    expect(body.errors[0]?.message).toContain('1000');
    await expectError(await call('/register', { version: 1, entries: [{ key: 'a', size: -1 }] }), 400, 'INVALID_REQUEST');
    await expectError(await call('/register', { version: 1, entries: [{ key: 'a', metadata: 'x' }] }), 400, 'INVALID_REQUEST');
  });

  it('a batch with one bad key leases and stores none of its good keys', async () => {
    const good = unique('good');
    await expectError(await call('/can-offload', { version: 1, keys: [good, 42], holder: 'bad-client' }), 400, 'INVALID_REQUEST');
    await expectError(await call('/register', { version: 1, entries: [{ key: good }, { key: '' }] }), 400, 'INVALID_REQUEST');
    expect(await canOffload([good], 'other-client')).toEqual([{ key: good, kind: 'Granted', expiresAt: expect.any(Number) }]);
  });

  it('rejects an oversized body with 413', async () => {
    const huge = JSON.stringify({ version: 1, keys: ['x'], holder: 'w', pad: 'p'.repeat(5 * 1024 * 1024) });
    await expectError(await call('/can-offload', undefined, { raw: huge }), 413, 'PAYLOAD_TOO_LARGE');
  });
});

describe('sharding', () => {
  it(`a 1,000-key batch touches at most ${LEASE_SHARD_COUNT} objects`, async () => {
    const before = await listDurableObjectIds(env.LEASE_SHARD);
    const keys = Array.from({ length: 1_000 }, (_, i) => unique(`many${i}`));
    const results = await canOffload(keys, 'bulk');
    expect(results).toHaveLength(1_000);
    expect(results.every((r, i) => r.kind === 'Granted' && r.key === keys[i])).toBe(true);
    const after = await listDurableObjectIds(env.LEASE_SHARD);
    expect(after.length).toBeLessThanOrEqual(LEASE_SHARD_COUNT);
    expect(after.length - before.length).toBeLessThanOrEqual(LEASE_SHARD_COUNT);
    expect(after.length).toBeGreaterThan(1);

    const stats = (await (await call('/stats')).json()) as Record<string, number>;
    expect(stats.active).toBeGreaterThanOrEqual(1_000);
    expect(stats.granted).toBeGreaterThanOrEqual(1_000);
    expect(await listDurableObjectIds(env.LEASE_SHARD)).toHaveLength(LEASE_SHARD_COUNT);
  });
});
