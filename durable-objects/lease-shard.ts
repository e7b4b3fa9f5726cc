import { DurableObject } from 'cloudflare:workers';
import { getConfig } from '../workers/shared/edge-config.js';
import type { ChildLink, LeaseShardStats, LookupResult, OffloadResult, RegisterEntry, RegisterResult } from '../workers/shared/leases/shard-types.js';

export type * from '../workers/shared/leases/shard-types.js';

interface EntryRow extends Record<string, SqlStorageValue> {
  stored: number;
  holder: string | null;
  expires_at: number | null;
  size: number | null;
  value: string | null;
}

type Counter = 'granted' | 'expired' | 'evicted' | 'orphaned';

/** Past this many times LEASE_SHARD_CAPACITY a shard evicts keys that still have children. */
const HARD_CAPACITY_FACTOR = 2;

/**
 * One of a fixed set of objects (see LEASE_SHARD_COUNT) holding leases and registrations for the
 * keys that hash to it. Callers group a batch by shard, so a batch never creates an object per key.
 * Registered keys beyond LEASE_SHARD_CAPACITY are evicted leaves first (keys no registered key names
 * as its parent), least recently registered/used first among them, so chains shrink from the tail.
 * A shard keeps the links of the keys that hash to it as parents (`children`), whichever shard holds
 * the child; LeaseShardClient links before it registers and unlinks what eviction returns.
 */
export class LeaseShard extends DurableObject<Env> {
  private readonly sql: SqlStorage;
  /** Last use sequence number handed out: orders keys for LRU eviction. */
  private seq = 0;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    void ctx.blockConcurrencyWhile(async () => this.migrate());
  }

  canOffload(keys: string[], holder: string): OffloadResult[] {
    const now = Date.now();
    const expiresAt = now + getConfig(this.env).LEASE_TTL_MS;
    return this.ctx.storage.transactionSync(() => {
      this.sweepExpired(now);
      let granted = 0;
      const results = keys.map((key): OffloadResult => {
        const row = this.row(key);
        if (row?.stored) {
          this.touch(key);
          return row.size === null ? { kind: 'AlreadyStored' } : { kind: 'AlreadyStored', size: row.size };
        }
        // Expired leases were swept above, so a remaining one is live.
        if (row && row.holder !== holder) return { kind: 'Leased', expiresAt: row.expires_at ?? now };
        this.sql.exec(
          `INSERT INTO entries (key, stored, holder, expires_at) VALUES (?, 0, ?, ?)
           ON CONFLICT (key) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at`,
          key,
          holder,
          expiresAt,
        );
        granted++;
        return { kind: 'Granted', expiresAt };
      });
      this.bump('granted', granted);
      this.saveSeq();
      return results;
    });
  }

  register(entries: RegisterEntry[]): RegisterResult {
    const capacity = getConfig(this.env).LEASE_SHARD_CAPACITY;
    return this.ctx.storage.transactionSync(() => {
      this.sweepExpired(Date.now());
      const unlinked: ChildLink[] = [];
      for (const entry of entries) {
        const previous = this.sql.exec<{ parent: string | null }>('SELECT parent FROM entries WHERE key = ?', entry.key).toArray()[0];
        if (previous?.parent && previous.parent !== entry.parent) unlinked.push({ parent: previous.parent, child: entry.key });
        this.sql.exec(
          `INSERT INTO entries (key, stored, value, size, metadata, seq, parent) VALUES (?, 1, ?, ?, ?, ?, ?)
           ON CONFLICT (key) DO UPDATE SET stored = 1, holder = NULL, expires_at = NULL,
             value = excluded.value, size = excluded.size, metadata = excluded.metadata, seq = excluded.seq, parent = excluded.parent`,
          entry.key,
          entry.value ?? null,
          entry.size ?? null,
          entry.metadata === undefined ? null : JSON.stringify(entry.metadata),
          ++this.seq,
          entry.parent ?? null,
        );
      }
      this.saveSeq();
      const stored = this.count('stored = 1');
      const evicted = stored > capacity ? this.evict(stored - capacity, Math.max(0, stored - HARD_CAPACITY_FACTOR * capacity)) : [];
      for (const row of evicted) if (row.parent) unlinked.push({ parent: row.parent, child: row.key });
      return { stored: entries.length, evicted: evicted.length, unlinked };
    });
  }

  /**
   * Records that each child names its parent (the parents hash to this shard), so the parents are no
   * longer leaves. Answers, per link, whether the parent is registered now.
   */
  link(links: ChildLink[]): boolean[] {
    return this.ctx.storage.transactionSync(() =>
      links.map(({ parent, child }) => {
        this.sql.exec('INSERT OR IGNORE INTO children (parent, child) VALUES (?, ?)', parent, child);
        return this.row(parent)?.stored === 1;
      }),
    );
  }

  /** Forgets links whose child was evicted or re-parented; their parents may become leaves. */
  unlink(links: ChildLink[]): void {
    this.ctx.storage.transactionSync(() => {
      for (const { parent, child } of links) this.sql.exec('DELETE FROM children WHERE parent = ? AND child = ?', parent, child);
    });
  }

  /** Which keys are registered; registered ones count as used (LRU). */
  lookup(keys: string[]): LookupResult[] {
    return this.ctx.storage.transactionSync(() => {
      const results = keys.map((key): LookupResult => {
        const row = this.row(key);
        if (!row?.stored) return { stored: false };
        this.touch(key);
        return row.value === null ? { stored: true } : { stored: true, value: row.value };
      });
      this.saveSeq();
      return results;
    });
  }

  stats(): LeaseShardStats {
    this.sweepExpired(Date.now());
    const counters = this.sql.exec<Record<Counter, number>>('SELECT granted, expired, evicted, orphaned FROM meta WHERE id = 1').one();
    return { active: this.count('stored = 0'), stored: this.count('stored = 1'), ...counters };
  }

  private migrate(): void {
    this.sql.exec(`CREATE TABLE IF NOT EXISTS entries (
      key TEXT PRIMARY KEY, stored INTEGER NOT NULL DEFAULT 0, holder TEXT, expires_at INTEGER,
      value TEXT, size INTEGER, metadata TEXT, seq INTEGER)`);
    this.sql.exec('CREATE INDEX IF NOT EXISTS entries_by_use ON entries (stored, seq)');
    this.sql.exec('CREATE INDEX IF NOT EXISTS entries_by_expiry ON entries (stored, expires_at)');
    this.sql.exec(`CREATE TABLE IF NOT EXISTS meta (id INTEGER PRIMARY KEY CHECK (id = 1), seq INTEGER NOT NULL DEFAULT 0,
      granted INTEGER NOT NULL DEFAULT 0, expired INTEGER NOT NULL DEFAULT 0, evicted INTEGER NOT NULL DEFAULT 0)`);
    this.sql.exec('INSERT OR IGNORE INTO meta (id) VALUES (1)');
    // Added with prefix-aware eviction; older shards get the columns here.
    this.addColumn('entries', 'parent TEXT');
    this.addColumn('meta', 'orphaned INTEGER NOT NULL DEFAULT 0');
    this.sql.exec('CREATE TABLE IF NOT EXISTS children (parent TEXT NOT NULL, child TEXT NOT NULL, PRIMARY KEY (parent, child))');
    this.sql.exec('CREATE INDEX IF NOT EXISTS children_by_child ON children (child)');
    this.seq = this.sql.exec<{ seq: number }>('SELECT seq FROM meta WHERE id = 1').one().seq;
  }

  private addColumn(table: 'entries' | 'meta', column: string): void {
    const name = column.split(' ')[0];
    const columns = this.sql.exec<{ name: string }>(`PRAGMA table_info(${table})`).toArray();
    if (!columns.some((c) => c.name === name)) this.sql.exec(`ALTER TABLE ${table} ADD COLUMN ${column}`);
  }

  /**
   * Evicts up to `excess` registered keys: leaves first, least recently used first. Evicting a leaf can
   * make its parent a leaf when both live here, so this goes in rounds (at most `excess`, each evicts
   * at least one). A shard whose keys all have children (their children live in other shards) stays
   * over capacity until those children are evicted and unlinked, up to HARD_CAPACITY_FACTOR × capacity;
   * only past that does it evict keys with children (`orphaned`), `mustEvict` of them at least.
   */
  private evict(excess: number, mustEvict: number): { key: string; parent: string | null }[] {
    const evicted: { key: string; parent: string | null }[] = [];
    for (let round = 0; round < excess && evicted.length < excess; round++) {
      const leaves = this.sql
        .exec<{ key: string; parent: string | null }>(
          `DELETE FROM entries WHERE key IN (
             SELECT e.key FROM entries e WHERE e.stored = 1 AND NOT EXISTS (SELECT 1 FROM children c WHERE c.parent = e.key)
             ORDER BY e.seq LIMIT ?)
           RETURNING key, parent`,
          excess - evicted.length,
        )
        .toArray();
      if (leaves.length === 0) break;
      for (const leaf of leaves) this.sql.exec('DELETE FROM children WHERE child = ?', leaf.key);
      evicted.push(...leaves);
    }
    const left = mustEvict - evicted.length;
    if (left > 0) {
      const parents = this.sql
        .exec<{ key: string; parent: string | null }>(
          'DELETE FROM entries WHERE key IN (SELECT key FROM entries WHERE stored = 1 ORDER BY seq LIMIT ?) RETURNING key, parent',
          left,
        )
        .toArray();
      for (const row of parents) this.sql.exec('DELETE FROM children WHERE child = ?', row.key);
      evicted.push(...parents);
      this.bump('orphaned', parents.length);
    }
    this.bump('evicted', evicted.length);
    return evicted;
  }

  private row(key: string): EntryRow | undefined {
    return this.sql.exec<EntryRow>('SELECT stored, holder, expires_at, size, value FROM entries WHERE key = ?', key).toArray()[0];
  }

  private touch(key: string): void {
    this.sql.exec('UPDATE entries SET seq = ? WHERE key = ?', ++this.seq, key);
  }

  /** Persists the use counter once per batch (a rolled-back batch only leaves a harmless gap). */
  private saveSeq(): void {
    this.sql.exec('UPDATE meta SET seq = ? WHERE id = 1', this.seq);
  }

  private count(where: 'stored = 0' | 'stored = 1'): number {
    return this.sql.exec<{ n: number }>(`SELECT COUNT(*) AS n FROM entries WHERE ${where}`).one().n;
  }

  /** Expired leases are dropped lazily, before every batch and in stats. */
  private sweepExpired(now: number): void {
    const expired = this.sql.exec('DELETE FROM entries WHERE stored = 0 AND expires_at <= ? RETURNING key', now).toArray().length;
    if (expired > 0) this.bump('expired', expired);
  }

  private bump(counter: Counter, by = 1): void {
    if (by === 0) return;
    this.sql.exec(`UPDATE meta SET ${counter} = ${counter} + ? WHERE id = 1`, by);
  }
}
