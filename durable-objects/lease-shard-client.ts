import { LEASE_SHARD_COUNT } from './constants.js';
import type { LeaseShard } from './lease-shard.js';
import type { ChildLink, LeaseShardStats, LookupResult, OffloadResult, RegisterEntry } from '../workers/shared/leases/shard-types.js';

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

  /**
   * Links each child to its parent at the parent's shard first (so the parent is never evicted as a
   * leaf in between), registers, then unlinks what eviction dropped so those parents become leaves.
   * An entry whose parent is neither registered nor stored earlier in the same batch is skipped: no
   * match-prefix could reach it, and storing it would leave a chain with a hole.
   */
  async register(entries: RegisterEntry[]): Promise<{ stored: number; evicted: number; skipped: number }> {
    const links = entries.flatMap((entry) => (entry.parent === undefined ? [] : [{ parent: entry.parent, child: entry.key }]));
    const parentRegistered = new Map<string, boolean>();
    (await this.scatter(links, (link) => link.parent, (stub, group) => stub.link(group))).forEach((registered, i) => {
      parentRegistered.set(links[i]!.parent, registered);
    });
    const accepted = new Set<string>();
    const kept: RegisterEntry[] = [];
    const unlinked: ChildLink[] = [];
    for (const entry of entries) {
      if (entry.parent === undefined || parentRegistered.get(entry.parent) || accepted.has(entry.parent)) {
        accepted.add(entry.key);
        kept.push(entry);
      } else {
        unlinked.push({ parent: entry.parent, child: entry.key });
      }
    }

    const totals = { stored: 0, evicted: 0, skipped: entries.length - kept.length };
    const groups = this.group(kept, (entry) => entry.key);
    await Promise.all(
      [...groups].map(async ([index, group]) => {
        const result = await this.stub(index).register(group.map(({ item }) => item));
        totals.stored += result.stored;
        totals.evicted += result.evicted;
        unlinked.push(...result.unlinked);
      }),
    );
    await this.sendLinks(unlinked, 'unlink');
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
    const total: LeaseShardStats = { active: 0, granted: 0, expired: 0, stored: 0, evicted: 0, orphaned: 0 };
    for (const shard of all) for (const field of Object.keys(total) as (keyof LeaseShardStats)[]) total[field] += shard[field];
    return { shards: LEASE_SHARD_COUNT, ...total };
  }

  private async sendLinks(links: ChildLink[], method: 'unlink'): Promise<void> {
    if (links.length === 0) return;
    const groups = this.group(links, (link) => link.parent);
    await Promise.all([...groups].map(([index, group]) => this.stub(index)[method](group.map(({ item }) => item))));
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

  private async scatter<T, R extends OffloadResult | LookupResult | boolean>(
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
