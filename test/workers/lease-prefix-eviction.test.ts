import { SELF } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { shardIndex } from '../../durable-objects/lease-shard-client.js';

// Prefix-aware eviction of the batch lease API: chains registered with `parent` lose their tails
// first, so match-prefix never stops at a hole left by an evicted middle block.

const TOKEN = 'test-token-0123456789abcdef';
const CAPACITY = 20; // LEASE_SHARD_CAPACITY in vitest.config.ts

async function call(path: string, body?: unknown): Promise<Record<string, unknown>> {
  const res = await SELF.fetch(`http://mirror/leases${path}`, {
    method: body === undefined ? 'GET' : 'POST',
    headers: { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  expect(res.status, await res.clone().text()).toBe(200);
  return (await res.json()) as Record<string, unknown>;
}

/** Registers blocks [from, to) of a chain, each naming the block before it as parent when asked. */
const registerBlocks = (chain: string[], from: number, to: number, withParents: boolean) =>
  call('/register', {
    version: 1,
    entries: chain.slice(from, to).map((key, j) => ({ key, value: `v:${key}`, ...(withParents && from + j > 0 ? { parent: chain[from + j - 1] } : {}) })),
  });

/**
 * Sequences grow over time: every chain's first blocks are registered, then every chain's later
 * blocks. With plain LRU the early blocks are then the oldest and go first.
 */
async function registerGrowing(chains: string[][], withParents: boolean, between?: (round: number) => Promise<void>): Promise<number> {
  const half = Math.ceil(chains[0]!.length / 2);
  let skipped = 0;
  for (const [i, chain] of chains.entries()) {
    skipped += Number((await registerBlocks(chain, 0, half, withParents)).skipped);
    await between?.(i);
  }
  for (const chain of chains) skipped += Number((await registerBlocks(chain, half, chain.length, withParents)).skipped);
  return skipped;
}

/** Which keys are registered, per chain, in chain order (one can-offload for all of them, at the end). */
async function registeredMap(chains: string[][]): Promise<boolean[][]> {
  const keys = chains.flat();
  const { results } = (await call('/can-offload', { version: 1, keys, holder: 'checker' })) as { results: { kind: string }[] };
  let at = 0;
  return chains.map((chain) => chain.map(() => results[at++]!.kind === 'AlreadyStored'));
}

/** A chain has a hole when a block is missing but a later one is registered. */
const hasHole = (stored: boolean[]) => stored.some((present, i) => !present && stored.slice(i + 1).some(Boolean));

/** `count` chains of `length` keys, every key hashing to `shard`. */
function sameShardChains(label: string, shard: number, count: number, length: number): string[][] {
  const keys: string[] = [];
  for (let i = 0; keys.length < count * length && i < 100_000; i++) {
    const key = `${label}-${crypto.randomUUID()}`;
    if (shardIndex(key) === shard) keys.push(key);
  }
  expect(keys).toHaveLength(count * length);
  return Array.from({ length: count }, (_, c) => keys.slice(c * length, (c + 1) * length));
}

async function stats(): Promise<{ evicted: number; orphaned: number }> {
  return (await call('/stats')) as unknown as { evicted: number; orphaned: number };
}

describe('prefix-aware eviction', () => {
  it('without parents, LRU eviction cuts old chains at the head (the problem)', async () => {
    const chains = sameShardChains('lru', 9, 8, 5); // 40 keys on one shard of capacity 20
    await registerGrowing(chains, false);
    const stored = await registeredMap(chains);
    expect(stored.some(hasHole)).toBe(true);
  });

  it('with parents, a shard filled past capacity with chains evicts tails first: no chain has a hole', async () => {
    const before = await stats();
    const chains = sameShardChains('tail', 5, 8, 5);
    const skipped = await registerGrowing(chains, true, async (i) => {
      // Use an older chain now and then, so recency and chain order disagree.
      if (i % 3 === 2) expect(await call('/match-prefix', { version: 1, keys: chains[0] })).toMatchObject({ count: expect.any(Number) });
    });
    const stored = await registeredMap(chains);
    for (const [i, chain] of stored.entries()) expect(hasHole(chain), `chain ${i}: ${chain.map(Number).join('')}`).toBe(false);
    expect(stored.flat().filter(Boolean).length).toBeLessThanOrEqual(CAPACITY);
    // Eviction did happen, and it shortened chains rather than emptying the newest ones.
    expect(stored.some((chain) => chain.includes(false))).toBe(true);
    const after = await stats();
    // Blocks whose parent was already evicted when they came are skipped, not stored as unreachable.
    expect(skipped).toBeGreaterThan(0);
    expect(after.evicted - before.evicted + skipped).toBeGreaterThanOrEqual(8 * 5 - CAPACITY);
    expect(after.orphaned).toBe(before.orphaned);

    // match-prefix of each chain returns exactly its registered prefix.
    for (const [i, chain] of chains.entries()) {
      const count = stored[i]!.filter(Boolean).length;
      expect(await call('/match-prefix', { version: 1, keys: chain })).toMatchObject({ count });
    }
  });

  it('chains spread over every shard lose tails first across shards', async () => {
    const before = await stats();
    // 48 chains of 10 random keys: 480 keys over 16 shards of capacity 20 (320).
    const chains = Array.from({ length: 48 }, (_, c) => Array.from({ length: 10 }, (_, i) => `spread-${c}-${i}-${crypto.randomUUID()}`));
    await registerGrowing(chains, true);
    const stored = await registeredMap(chains);
    const holes = stored.map((chain, i) => [i, chain.map(Number).join('')] as const).filter(([i]) => hasHole(stored[i]!));
    expect(holes).toEqual([]);
    const after = await stats();
    expect(after.evicted).toBeGreaterThan(before.evicted);
    expect(after.orphaned).toBe(before.orphaned);
  });

  it('rejects a key that names itself as parent', async () => {
    const res = await SELF.fetch('http://mirror/leases/register', {
      method: 'POST',
      headers: { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ version: 1, entries: [{ key: 'self', parent: 'self' }] }),
    });
    expect(res.status).toBe(400);
  });
});
