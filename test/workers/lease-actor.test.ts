import { abortAllDurableObjects, env, runDurableObjectAlarm, runInDurableObject } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import type { BlobLease } from '../../durable-objects/blob-lease.js';
import { ABANDONED_FILL_DROP_MS, IDLE_STORAGE_DROP_MS } from '../../durable-objects/constants.js';
import { pieceKey } from '../../workers/shared/blob-pieces.js';
import { parseDigest } from '../../workers/shared/oci/index.js';

const digest = (n: number) => `sha256:${n.toString(16).padStart(64, '0')}`;
let next = 0;
const freshLease = () => env.BLOB_LEASE.getByName(digest(++next));

/** Moves every holder's expiry into the past in storage, then restarts the objects so they reload it. */
async function expireInStorage(stub: DurableObjectStub<BlobLease>): Promise<void> {
  await runInDurableObject(stub, (_instance, state) => {
    state.storage.sql.exec('UPDATE holders SET expires_at = ?', Date.now() - 1);
  });
  await abortAllDurableObjects();
}

/** The tables in the object's storage (its alarm lives in one of them too). */
const storedTables = (stub: DurableObjectStub<BlobLease>) =>
  runInDurableObject(stub, (_instance, state) => state.storage.sql.exec<{ name: string }>(`SELECT name FROM sqlite_master WHERE type = 'table'`).toArray().map((row) => row.name));

describe('BlobLease acquire', () => {
  it('grants the first holder, answers Leased to the second, AlreadyStored after complete', async () => {
    const lease = freshLease();
    const first = await lease.acquire('edge-a');
    expect(first.kind).toBe('Granted');
    if (first.kind !== 'Granted') return;
    expect(first.expiresAt).toBeGreaterThan(Date.now());

    const second = await lease.acquire('edge-b');
    expect(second).toEqual({ kind: 'Leased', expiresAt: first.expiresAt });

    expect(await lease.complete(first.leaseId, 1234, 'blobs/x')).toEqual({ kind: 'Stored', wasHolder: true, size: 1234, location: 'blobs/x' });
    expect(await lease.acquire('edge-c')).toEqual({ kind: 'AlreadyStored', size: 1234, location: 'blobs/x' });
    const stats = await lease.stats();
    expect(stats).toMatchObject({ state: 'stored', holders: 0, granted: 1, completed: 1, size: 1234 });
  });

  it('grants N holders when max holders is N, then Leased', async () => {
    const lease = freshLease();
    const results = [];
    for (let i = 0; i < 6; i++) results.push(await lease.acquire(`h${i}`, { maxHolders: 5 }));
    expect(results.slice(0, 5).every((r) => r.kind === 'Granted')).toBe(true);
    expect(new Set(results.slice(0, 5).map((r) => (r.kind === 'Granted' ? r.leaseId : ''))).size).toBe(5);
    expect(results[5]?.kind).toBe('Leased');
    expect((await lease.stats()).holders).toBe(5);
  });

  it('survives a restart: state is reloaded from SQLite', async () => {
    const lease = freshLease();
    const granted = await lease.acquire('edge-a');
    expect(granted.kind).toBe('Granted');
    await abortAllDurableObjects();
    const again = env.BLOB_LEASE.getByName(digest(next));
    expect((await again.acquire('edge-b')).kind).toBe('Leased');
    if (granted.kind === 'Granted') await again.complete(granted.leaseId, 7, 'k');
    await abortAllDurableObjects();
    expect(await env.BLOB_LEASE.getByName(digest(next)).acquire('edge-c')).toEqual({ kind: 'AlreadyStored', size: 7, location: 'k' });
  });
});

describe('BlobLease renew and release', () => {
  it('renew extends the expiry; an unknown lease is Lost', async () => {
    const lease = freshLease();
    const granted = await lease.acquire('edge-a', { ttlMs: 1_000 });
    if (granted.kind !== 'Granted') throw new Error(`expected Granted, got ${granted.kind}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
    const renewed = await lease.renew(granted.leaseId, 60_000);
    expect(renewed.kind).toBe('Renewed');
    if (renewed.kind === 'Renewed') expect(renewed.expiresAt).toBeGreaterThan(granted.expiresAt + 50_000);
    expect(await lease.renew('no-such-lease')).toEqual({ kind: 'Lost' });
    expect((await lease.stats()).renewed).toBe(1);
  });

  it('release wakes a waiter, which then acquires Granted', async () => {
    const lease = freshLease();
    const granted = await lease.acquire('edge-a');
    if (granted.kind !== 'Granted') throw new Error('expected Granted');
    const waiting = lease.wait(10_000);
    await expect.poll(async () => (await lease.stats()).waiters, { timeout: 2_000, interval: 10 }).toBe(1);
    expect(await lease.release(granted.leaseId, 'upstream failed')).toEqual({ kind: 'Released', remainingHolders: 0 });
    expect(await waiting).toEqual({ kind: 'Free', reason: 'released' });
    expect((await lease.acquire('edge-b')).kind).toBe('Granted');
    expect(await lease.release('not-a-holder')).toEqual({ kind: 'NotHolder' });
  });

  it("passes the holder's failure on to the woken waiters", async () => {
    const lease = freshLease();
    const granted = await lease.acquire('edge-a');
    if (granted.kind !== 'Granted') throw new Error('expected Granted');
    const waiting = lease.wait(10_000);
    await expect.poll(async () => (await lease.stats()).waiters, { timeout: 2_000, interval: 10 }).toBe(1);
    await lease.release(granted.leaseId, 'upstream 404', { code: 'BLOB_UNKNOWN', message: 'no such blob upstream' });
    expect(await waiting).toEqual({ kind: 'Free', reason: 'released', failure: { code: 'BLOB_UNKNOWN', message: 'no such blob upstream' } });
  });
});

describe('BlobLease wait', () => {
  it('resolves promptly when the holder completes (no polling)', async () => {
    const lease = freshLease();
    const granted = await lease.acquire('edge-a');
    if (granted.kind !== 'Granted') throw new Error('expected Granted');
    let settledAt = 0;
    const waiting = lease.wait(20_000).then((result) => {
      settledAt = Date.now();
      return result;
    });
    await expect.poll(async () => (await lease.stats()).waiters, { timeout: 2_000, interval: 10 }).toBe(1);
    const completedAt = Date.now();
    await lease.complete(granted.leaseId, 42, 'blobs/y');
    expect(await waiting).toEqual({ kind: 'Stored', size: 42, location: 'blobs/y' });
    expect(settledAt - completedAt).toBeLessThan(500);
    expect((await lease.stats()).waiters).toBe(0);
  });

  it('answers at once when there is nothing to wait for', async () => {
    const lease = freshLease();
    expect(await lease.wait(10_000)).toEqual({ kind: 'Free', reason: 'absent' });
  });

  it("each waiter's own deadline ends its wait while the lease is still held", async () => {
    const lease = freshLease();
    const granted = await lease.acquire('edge-a', { ttlMs: 60_000 });
    if (granted.kind !== 'Granted') throw new Error('expected Granted');
    const started = Date.now();
    const [short, long] = await Promise.all([lease.wait(150), lease.wait(400)]);
    expect(short).toEqual({ kind: 'Timeout', expiresAt: granted.expiresAt });
    expect(long).toEqual({ kind: 'Timeout', expiresAt: granted.expiresAt });
    expect(Date.now() - started).toBeGreaterThanOrEqual(350);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect((await lease.stats()).waiters).toBe(0);
  });

  it('a waiter whose deadline passes after the lease ran out takes over (Free/expired)', async () => {
    const lease = freshLease();
    const granted = await lease.acquire('dead-holder', { ttlMs: 200 });
    expect(granted.kind).toBe('Granted');
    const result = await lease.wait(1_000);
    expect(result.kind).toBe('Free');
    expect((await lease.acquire('edge-b')).kind).toBe('Granted');
  });
});

describe('BlobLease alarm', () => {
  it('expires a lease whose time ran out, drops the storage of a blob never stored, and a second run is harmless', async () => {
    const lease = freshLease();
    const granted = await lease.acquire('dead-holder');
    expect(granted.kind).toBe('Granted');
    await expireInStorage(lease);
    const stub = env.BLOB_LEASE.getByName(digest(next));
    expect(await stub.stats()).toMatchObject({ state: 'leased', holders: 1 });
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect(await stub.stats()).toMatchObject({ state: 'absent', holders: 0 });
    expect(await storedTables(stub)).toEqual([]);
    expect(await runDurableObjectAlarm(stub)).toBe(false);
    // Calling the handler again directly (an alarm delivered twice) changes nothing either.
    await runInDurableObject(stub, (instance) => instance.alarm());
    expect(await stub.stats()).toMatchObject({ state: 'absent', holders: 0 });
    const again = await stub.acquire('edge-b');
    if (again.kind !== 'Granted') throw new Error('expected Granted');
    await stub.release(again.leaseId);
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect(await storedTables(stub)).toEqual([]);
  });

  it('does not expire a lease that is still live, and keeps an alarm for it', async () => {
    const lease = freshLease();
    await lease.acquire('edge-a', { ttlMs: 60_000 });
    expect(await runDurableObjectAlarm(lease)).toBe(true);
    expect(await lease.stats()).toMatchObject({ state: 'leased', holders: 1, expired: 0 });
    const alarm = await runInDurableObject(lease, (_instance, state) => state.storage.getAlarm());
    expect(alarm).toBeGreaterThan(Date.now());
  });

  it('takeover: after the dead holder expires the next acquire is Granted', async () => {
    const lease = freshLease();
    const dead = await lease.acquire('dead-holder');
    if (dead.kind !== 'Granted') throw new Error('expected Granted');
    expect((await lease.acquire('edge-b')).kind).toBe('Leased');
    await expireInStorage(lease);
    const stub = env.BLOB_LEASE.getByName(digest(next));
    const takeover = await stub.acquire('edge-b');
    expect(takeover.kind).toBe('Granted');
    // The dead holder finds out when it renews.
    expect(await stub.renew(dead.leaseId)).toEqual({ kind: 'Lost' });
  });

  it('an expiring lease wakes its waiters', async () => {
    const lease = freshLease();
    await lease.acquire('dead-holder');
    const waiting = lease.wait(20_000);
    await expect.poll(async () => (await lease.stats()).waiters, { timeout: 2_000, interval: 10 }).toBe(1);
    await runInDurableObject(lease, (_instance, state) => {
      state.storage.sql.exec('UPDATE holders SET expires_at = ?', Date.now() - 1);
    });
    // The in-memory mirror still has the old expiry; the alarm reads time, not storage, so move it there too.
    await runInDurableObject(lease, (instance) => {
      (instance as unknown as { holders: Map<string, { expiresAt: number }> }).holders.forEach((h) => (h.expiresAt = Date.now() - 1));
    });
    expect(await runDurableObjectAlarm(lease)).toBe(true);
    expect(await waiting).toEqual({ kind: 'Free', reason: 'expired' });
  });
});

describe('BlobLease storage of blobs never stored', () => {
  it('reads of an object nobody acquired write nothing', async () => {
    const lease = freshLease();
    expect(await lease.wait(10)).toEqual({ kind: 'Free', reason: 'absent' });
    expect(await lease.waitFill(-1, 10)).toMatchObject({ kind: 'Free', reason: 'absent' });
    expect(await lease.stats()).toMatchObject({ state: 'absent' });
    expect(await lease.renew('no-such-lease')).toEqual({ kind: 'Lost' });
    expect(await lease.release('no-such-lease')).toEqual({ kind: 'NotHolder' });
    expect(await lease.forget('blobs/x')).toBe(false);
    expect(await storedTables(lease)).toEqual([]);
  });

  it('a holder that gives up (say, after an upstream 404) leaves no storage, and its waiter still gets the failure', async () => {
    const lease = freshLease();
    const granted = await lease.acquire('edge-a');
    if (granted.kind !== 'Granted') throw new Error('expected Granted');
    expect(await storedTables(lease)).not.toEqual([]);
    const waiting = lease.wait(10_000);
    await expect.poll(async () => (await lease.stats()).waiters, { timeout: 2_000, interval: 10 }).toBe(1);
    await lease.release(granted.leaseId, 'upstream 404', { code: 'BLOB_UNKNOWN', message: 'no such blob upstream' });
    expect(await waiting).toMatchObject({ kind: 'Free', reason: 'released', failure: { code: 'BLOB_UNKNOWN' } });
    // The storage goes by an alarm a few seconds later, not at once (a key acquired in a loop keeps its tables).
    expect(await storedTables(lease)).not.toEqual([]);
    const dropAt = await runInDurableObject(lease, (_instance, state) => state.storage.getAlarm());
    expect(dropAt).toBeLessThanOrEqual(Date.now() + IDLE_STORAGE_DROP_MS);
    expect(await runDurableObjectAlarm(lease)).toBe(true);
    expect(await storedTables(lease)).toEqual([]);
    expect(await runInDurableObject(lease, (_instance, state) => state.storage.getAlarm())).toBeNull();
    // A new holder starts from scratch, with its lease kept across a restart as before.
    const again = await lease.acquire('edge-b');
    if (again.kind !== 'Granted') throw new Error('expected Granted');
    await abortAllDurableObjects();
    const restarted = env.BLOB_LEASE.getByName(digest(next));
    expect((await restarted.acquire('edge-c')).kind).toBe('Leased');
    await restarted.release(again.leaseId);
  });

  it('a fill that stopped with pieces stored keeps its state, so the next holder continues it', async () => {
    const lease = freshLease();
    const granted = await lease.acquire('edge-a');
    if (granted.kind !== 'Granted') throw new Error('expected Granted');
    await lease.begin(granted.leaseId, digest(next), 3_000, 1_000);
    await lease.announce(granted.leaseId, 2);
    await lease.release(granted.leaseId, 'upstream stalled');
    expect(await storedTables(lease)).not.toEqual([]);
    const resumed = await lease.acquire('edge-b');
    expect(resumed).toMatchObject({ kind: 'Granted', fill: { size: 3_000, pieceBytes: 1_000, pieces: 2 } });
    // Its pieces turn out wrong and are discarded: now nothing is left to keep.
    if (resumed.kind === 'Granted') await lease.release(resumed.leaseId, 'wrong bytes', undefined, true);
    expect(await runDurableObjectAlarm(lease)).toBe(true);
    expect(await storedTables(lease)).toEqual([]);
  });

  it('a discarded fill drops the storage, and its readers still see the generation move on, before and after a restart', async () => {
    const lease = freshLease();
    const granted = await lease.acquire('edge-a');
    if (granted.kind !== 'Granted') throw new Error('expected Granted');
    await lease.begin(granted.leaseId, digest(next), 3_000, 1_000);
    await lease.announce(granted.leaseId, 1);
    const progress = await lease.waitFill(0, 1_000);
    if (progress.kind !== 'Progress') throw new Error(`expected Progress, got ${progress.kind}`);
    await lease.release(granted.leaseId, 'wrong bytes', { code: 'DIGEST_INVALID', message: 'wrong bytes' }, true);
    expect(await runDurableObjectAlarm(lease)).toBe(true);
    expect(await storedTables(lease)).toEqual([]);
    const woke = await lease.waitFill(0, 10);
    expect(woke.kind).toBe('Free');
    expect(woke.generation).not.toBe(progress.generation);
    // A new fill in the same instance, then a restart: still not the discarded fill's generation.
    const retry = await lease.acquire('edge-b');
    if (retry.kind !== 'Granted') throw new Error('expected Granted');
    await lease.begin(retry.leaseId, digest(next), 3_000, 1_000);
    await abortAllDurableObjects();
    const restarted = env.BLOB_LEASE.getByName(digest(next));
    const after = await restarted.waitFill(-1, 10);
    expect(after).toMatchObject({ kind: 'Progress', fill: { pieces: 0 } });
    expect(after.generation).toBe(woke.generation);
    await restarted.release(retry.leaseId);
  });

  it('a fill nobody continues loses its pieces and its state ABANDONED_FILL_DROP_MS after its last holder left, not before', async () => {
    const lease = freshLease();
    const blob = digest(next);
    const keys = [0, 1].map((index) => pieceKey(parseDigest(blob), index));
    const granted = await lease.acquire('edge-a');
    if (granted.kind !== 'Granted') throw new Error('expected Granted');
    await lease.begin(granted.leaseId, blob, 3_000, 1_000);
    for (const key of keys) await env.BLOBS.put(key, new Uint8Array(1_000));
    await lease.announce(granted.leaseId, 2);
    const leftAt = Date.now();
    await lease.release(granted.leaseId, 'upstream stalled');
    const alarmAt = () => runInDurableObject(lease, (_instance, state) => state.storage.getAlarm());

    // Early (the alarm set for the lease's expiry): it keeps everything for a holder to continue, and comes back then.
    expect(await runDurableObjectAlarm(lease)).toBe(true);
    for (const key of keys) expect(await env.BLOBS.head(key)).not.toBeNull();
    expect(await lease.stats()).toMatchObject({ state: 'absent', fill: { pieces: 2 } });
    expect(await alarmAt()).toBeGreaterThanOrEqual(leftAt + ABANDONED_FILL_DROP_MS);

    // Past the deadline (moved back in storage, then reloaded): pieces, state and alarm are gone.
    await runInDurableObject(lease, (_instance, state) => {
      state.storage.sql.exec('UPDATE meta SET fill_left_at = ?', Date.now() - ABANDONED_FILL_DROP_MS - 1);
    });
    await abortAllDurableObjects();
    const restarted = env.BLOB_LEASE.getByName(blob);
    expect(await runDurableObjectAlarm(restarted)).toBe(true);
    for (const key of keys) expect(await env.BLOBS.head(key)).toBeNull();
    expect(await storedTables(restarted)).toEqual([]);
    expect(await runInDurableObject(restarted, (_instance, state) => state.storage.getAlarm())).toBeNull();
    const fresh = await restarted.acquire('edge-b');
    expect(fresh.kind).toBe('Granted');
    expect(fresh).not.toHaveProperty('fill');
    if (fresh.kind === 'Granted') await restarted.release(fresh.leaseId);
  });

  it('a holder that died mid-fill: the alarm that expires it starts the abandonment clock, and a new holder stops it', async () => {
    const lease = freshLease();
    const blob = digest(next);
    const granted = await lease.acquire('edge-a');
    if (granted.kind !== 'Granted') throw new Error('expected Granted');
    await lease.begin(granted.leaseId, blob, 3_000, 1_000);
    await lease.announce(granted.leaseId, 1);
    await expireInStorage(lease);
    const restarted = env.BLOB_LEASE.getByName(blob);
    const expiredAt = Date.now();
    expect(await runDurableObjectAlarm(restarted)).toBe(true);
    const leftAt = () => runInDurableObject(restarted, (_instance, state) => state.storage.sql.exec<{ at: number | null }>('SELECT fill_left_at AS at FROM meta').one().at);
    expect(await leftAt()).toBeGreaterThanOrEqual(expiredAt);
    expect(await runInDurableObject(restarted, (_instance, state) => state.storage.getAlarm())).toBeGreaterThanOrEqual(expiredAt + ABANDONED_FILL_DROP_MS);
    const takeover = await restarted.acquire('edge-b');
    expect(takeover).toMatchObject({ kind: 'Granted', fill: { pieces: 1 } });
    expect(await leftAt()).toBeNull();
    if (takeover.kind === 'Granted') await restarted.release(takeover.leaseId, 'wrong bytes', undefined, true);
  });

  it('a stored blob keeps its state', async () => {
    const lease = freshLease();
    const granted = await lease.acquire('edge-a');
    if (granted.kind !== 'Granted') throw new Error('expected Granted');
    await lease.complete(granted.leaseId, 5, 'blobs/z');
    await runDurableObjectAlarm(lease);
    await abortAllDurableObjects();
    expect(await env.BLOB_LEASE.getByName(digest(next)).acquire('edge-b')).toEqual({ kind: 'AlreadyStored', size: 5, location: 'blobs/z' });
  });
});
