import { abortAllDurableObjects, env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import type { StoredBlob } from '../../durable-objects/blob-lease-types.js';
import type { BlobLease } from '../../durable-objects/blob-lease.js';
import type { CoalesceOptions, FillContext } from '../../durable-objects/blob-lease-client.js';
import { BlobLeaseClient } from '../../durable-objects/blob-lease-client.js';
import { OciError } from '../../workers/shared/oci/index.js';

// The caller-side protocol (acquire → fill | wait → serve) with in-memory fills and a fake store.

const TTL_MS = 400;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

class FakeStore {
  readonly objects = new Map<string, string>();
  fills = 0;
  readonly background: Promise<unknown>[] = [];

  options(key: string, fill: (context: FillContext) => Promise<{ value: string; stored: Promise<StoredBlob> }>): CoalesceOptions<string> {
    return {
      key,
      fill: (context) => {
        this.fills++;
        return fill(context);
      },
      readStored: async ({ location }) => this.objects.get(location),
      waitUntil: (promise) => this.background.push(promise),
      waitDeadlineMs: 10_000,
    };
  }

  /** A fill that takes `ms`, then stores `bytes` under the key. */
  quickFill(key: string, bytes: string, ms = 50) {
    return async () => {
      await sleep(ms);
      this.objects.set(key, bytes);
      return { value: bytes, stored: Promise.resolve({ size: bytes.length, location: key }) };
    };
  }
}

let n = 0;
const client = (holder: string) => new BlobLeaseClient(env.BLOB_LEASE, { ttlMs: TTL_MS, maxHolders: 1, holder });
const key = (label: string) => `sha256:${label}-${++n}-${crypto.randomUUID()}`;

describe('BlobLeaseClient.coalesce', () => {
  it('50 concurrent callers: one fill, everyone gets the bytes', async () => {
    const store = new FakeStore();
    const k = key('burst');
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => client(`c${i}`).coalesce(store.options(k, store.quickFill(k, 'BYTES', 100)))));
    expect(store.fills).toBe(1);
    expect(results.every((r) => r === 'BYTES')).toBe(true);
    await Promise.all(store.background);
    expect(await env.BLOB_LEASE.getByName(k).stats()).toMatchObject({ state: 'stored', granted: 1, completed: 1 });
  });

  it('a failing fill releases the lease and a waiter takes over', async () => {
    const store = new FakeStore();
    const k = key('fail');
    let attempt = 0;
    const fill = async () => {
      attempt++;
      await sleep(50);
      if (attempt === 1) throw new OciError('UPSTREAM_FAILED', 'upstream said 500');
      return store.quickFill(k, 'OK', 0)();
    };
    const settled = await Promise.allSettled(Array.from({ length: 10 }, (_, i) => client(`c${i}`).coalesce(store.options(k, fill))));
    expect(store.fills).toBe(2);
    const failed = settled.filter((s) => s.status === 'rejected');
    expect(failed).toHaveLength(1);
    expect((failed[0] as PromiseRejectedResult).reason).toBeInstanceOf(OciError);
    expect(settled.filter((s) => s.status === 'fulfilled' && s.value === 'OK')).toHaveLength(9);
  });

  it("a definitive upstream answer (404) is shared with the waiters instead of each re-asking", async () => {
    const store = new FakeStore();
    const k = key('missing');
    const fill = async () => {
      await sleep(100);
      throw new OciError('BLOB_UNKNOWN', 'upstream has no such blob');
    };
    const settled = await Promise.allSettled(Array.from({ length: 10 }, (_, i) => client(`c${i}`).coalesce(store.options(k, fill))));
    expect(store.fills).toBe(1);
    for (const result of settled) {
      expect(result.status).toBe('rejected');
      expect((result as PromiseRejectedResult).reason).toMatchObject({ code: 'BLOB_UNKNOWN', status: 404 });
    }
  });

  it("a request-specific failure of the holder (one client's bad Range) is not passed to the waiters: one takes over", async () => {
    const store = new FakeStore();
    const k = key('range');
    let attempt = 0;
    const fill = async () => {
      attempt++;
      await sleep(100);
      if (attempt === 1) throw new OciError('RANGE_INVALID', 'range not satisfiable for this client');
      return store.quickFill(k, 'OK', 0)();
    };
    const settled = await Promise.allSettled(Array.from({ length: 10 }, (_, i) => client(`c${i}`).coalesce(store.options(k, fill))));
    expect(store.fills).toBe(2);
    const failed = settled.filter((s) => s.status === 'rejected');
    expect(failed).toHaveLength(1);
    expect((failed[0] as PromiseRejectedResult).reason).toMatchObject({ code: 'RANGE_INVALID' });
    expect(settled.filter((s) => s.status === 'fulfilled' && s.value === 'OK')).toHaveLength(9);
  });

  it('a holder that stops making progress loses the lease within the TTL; a waiter takes over', async () => {
    const store = new FakeStore();
    const k = key('stall');
    let attempt = 0;
    const fill = async (context: FillContext) => {
      attempt++;
      if (attempt === 1) {
        // Returns a response, then the store never finishes and no bytes move: a dead holder.
        context.progress();
        return { value: 'PARTIAL', stored: new Promise<StoredBlob>(() => undefined) };
      }
      return store.quickFill(k, 'FULL', 0)();
    };
    const holder = await client('dead').coalesce(store.options(k, fill));
    expect(holder).toBe('PARTIAL');
    const started = Date.now();
    const follower = await client('follower').coalesce(store.options(k, fill));
    expect(follower).toBe('FULL');
    expect(store.fills).toBe(2);
    // Took over after at most ~two TTLs (one renewal happens before progress is checked).
    expect(Date.now() - started).toBeLessThan(TTL_MS * 2 + 1_500);
  });

  it('a holder that keeps making progress keeps its lease past the TTL', async () => {
    const store = new FakeStore();
    const k = key('slow');
    const fill = async (context: FillContext) => {
      const ticker = setInterval(() => context.progress(), 50);
      const stored = sleep(TTL_MS * 3).then(() => {
        clearInterval(ticker);
        store.objects.set(k, 'SLOW');
        return { size: 4, location: k };
      });
      return { value: 'SLOW', stored };
    };
    expect(await client('holder').coalesce(store.options(k, fill))).toBe('SLOW');
    expect(await client('follower').coalesce(store.options(k, fill))).toBe('SLOW');
    expect(store.fills).toBe(1);
  });

  it('stored bytes that went missing are fetched again', async () => {
    const store = new FakeStore();
    const k = key('gone');
    expect(await client('a').coalesce(store.options(k, store.quickFill(k, 'ONE', 0)))).toBe('ONE');
    await Promise.all(store.background);
    store.objects.clear();
    expect(await client('b').coalesce(store.options(k, store.quickFill(k, 'TWO', 0)))).toBe('TWO');
    expect(store.fills).toBe(2);
  });

  it('a waiter whose pending wait dies with a reset object asks again and still gets the bytes', async () => {
    const store = new FakeStore();
    const k = key('reset');
    let finish: () => void = () => undefined;
    const fill = async (context: FillContext) => {
      const ticker = setInterval(() => context.progress(), 50);
      const stored = new Promise<StoredBlob>((resolve) => {
        finish = () => {
          clearInterval(ticker);
          store.objects.set(k, 'AFTER-RESET');
          resolve({ size: 11, location: k });
        };
      });
      return { value: 'HOLDER', stored };
    };
    expect(await client('holder').coalesce(store.options(k, fill))).toBe('HOLDER');
    const follower = client('follower').coalesce(store.options(k, fill));
    await expect.poll(async () => (await env.BLOB_LEASE.getByName(k).stats()).waiters, { timeout: 2_000, interval: 10 }).toBe(1);
    await abortAllDurableObjects();
    await sleep(100);
    finish();
    expect(await follower).toBe('AFTER-RESET');
    expect(store.fills).toBe(1);
  });

  it('fetches without the lease when the lease object cannot be reached', async () => {
    const store = new FakeStore();
    const k = key('unreachable');
    const broken = {
      getByName: () => ({
        acquire: () => Promise.reject(new Error('Durable Object is overloaded')),
      }),
    } as unknown as DurableObjectNamespace<BlobLease>;
    const result = await new BlobLeaseClient(broken, { ttlMs: TTL_MS, maxHolders: 1 }).coalesce(store.options(k, store.quickFill(k, 'DIRECT', 0)));
    expect(result).toBe('DIRECT');
    expect(store.fills).toBe(1);
  });

  it('a follower gives up with UNAVAILABLE at its deadline instead of hanging', async () => {
    const store = new FakeStore();
    const k = key('deadline');
    const never = async (context: FillContext) => {
      const ticker = setInterval(() => context.progress(), 50);
      const stored = sleep(5_000).then(() => {
        clearInterval(ticker);
        return { size: 1, location: k };
      });
      return { value: 'HOLDER', stored };
    };
    expect(await client('holder').coalesce(store.options(k, never))).toBe('HOLDER');
    const started = Date.now();
    const follower = client('follower').coalesce({ ...store.options(k, never), waitDeadlineMs: 600 });
    await expect(follower).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    expect(Date.now() - started).toBeLessThan(3_000);
  });
});
