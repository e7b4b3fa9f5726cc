import { LEASE_SHARD_COUNT } from './constants.js';
import type { LeaseShard } from './lease-shard.js';
import type { LeaseShardStats, LookupResult, OffloadResult, RegisterEntry } from './lease-shard-types.js';

/** Shard of a key: FNV-1a over its UTF-16 code units, modulo the fixed shard count. */
export function shardIndex(key: string, shards = LEASE_SHARD_COUNT): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    hash ^= key.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0) % shards;
}

export const shardName = (index: number) => `lease-shard-${index}`;

export interface PrefixMatch {
  /** How many leading keys are registered. */
  count: number;
  lastKey?: string;
  lastValue?: string;
}

/**
 * Caller-side wrapper of the LeaseShard objects: groups a batch by shard, calls each touched shard
 * once (in parallel) and puts the answers back in request order.
 */
export class LeaseShardClient {
  constructor(private readonly namespace: DurableObjectNamespace<LeaseShard>) {}

  canOffload(keys: string[], holder: string): Promise<OffloadResult[]> {
    return this.scatter(keys, (key) => key, (stub, group) => stub.canOffload(group, holder));
  }

  async register(entries: RegisterEntry[]): Promise<{ stored: number; evicted: number }> {
    const totals = { stored: 0, evicted: 0 };
    const groups = this.group(entries, (entry) => entry.key);
    await Promise.all(
      [...groups].map(async ([index, group]) => {
        const result = await this.stub(index).register(group.map(({ item }) => item));
        totals.stored += result.stored;
        totals.evicted += result.evicted;
      }),
    );
    return totals;
  }

  async matchPrefix(keys: string[]): Promise<PrefixMatch> {
    const found = await this.scatter(keys, (key) => key, (stub, group) => stub.lookup(group));
    const count = found.findIndex((result) => !result.stored);
    const matched = count === -1 ? keys.length : count;
    if (matched === 0) return { count: 0 };
    const last = found[matched - 1]!;
    return { count: matched, lastKey: keys[matched - 1], ...(last.value === undefined ? {} : { lastValue: last.value }) };
  }

  async stats(): Promise<LeaseShardStats & { shards: number }> {
    const all = await Promise.all(Array.from({ length: LEASE_SHARD_COUNT }, (_, index) => this.stub(index).stats()));
    const total: LeaseShardStats = { active: 0, granted: 0, expired: 0, stored: 0, evicted: 0 };
    for (const shard of all) for (const field of Object.keys(total) as (keyof LeaseShardStats)[]) total[field] += shard[field];
    return { shards: LEASE_SHARD_COUNT, ...total };
  }

  private stub(index: number): DurableObjectStub<LeaseShard> {
    return this.namespace.getByName(shardName(index));
  }

  private group<T>(items: T[], keyOf: (item: T) => string): Map<number, { item: T; position: number }[]> {
    const groups = new Map<number, { item: T; position: number }[]>();
    items.forEach((item, position) => {
      const index = shardIndex(keyOf(item));
      let group = groups.get(index);
      if (!group) groups.set(index, (group = []));
      group.push({ item, position });
    });
    return groups;
  }

  private async scatter<T, R extends OffloadResult | LookupResult>(
    items: T[],
    keyOf: (item: T) => string,
    call: (stub: DurableObjectStub<LeaseShard>, group: T[]) => Promise<R[]>,
  ): Promise<R[]> {
    const results = new Array<R>(items.length);
    await Promise.all(
      [...this.group(items, keyOf)].map(async ([index, group]) => {
        const answers = await call(this.stub(index), group.map(({ item }) => item));
        group.forEach(({ position }, i) => (results[position] = answers[i]!));
      }),
    );
    return results;
  }
}
