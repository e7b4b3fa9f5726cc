import { DurableObject } from 'cloudflare:workers';
import { getConfig } from '../workers/config.js';
import type { LeaseShardStats, LookupResult, OffloadResult, RegisterEntry } from './lease-shard-types.js';

export type * from './lease-shard-types.js';

interface EntryRow extends Record<string, SqlStorageValue> {
  stored: number;
  holder: string | null;
  expires_at: number | null;
  size: number | null;
  value: string | null;
}

type Counter = 'granted' | 'expired' | 'evicted';

/**
 * One of a fixed set of objects (see LEASE_SHARD_COUNT) holding leases and registrations for the
 * keys that hash to it. Callers group a batch by shard, so a batch never creates an object per key.
 * Registered keys beyond LEASE_SHARD_CAPACITY are evicted least recently registered/used first.
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

  register(entries: RegisterEntry[]): { stored: number; evicted: number } {
    const capacity = getConfig(this.env).LEASE_SHARD_CAPACITY;
    return this.ctx.storage.transactionSync(() => {
      this.sweepExpired(Date.now());
      for (const entry of entries) {
        this.sql.exec(
          `INSERT INTO entries (key, stored, value, size, metadata, seq) VALUES (?, 1, ?, ?, ?, ?)
           ON CONFLICT (key) DO UPDATE SET stored = 1, holder = NULL, expires_at = NULL,
             value = excluded.value, size = excluded.size, metadata = excluded.metadata, seq = excluded.seq`,
          entry.key,
          entry.value ?? null,
          entry.size ?? null,
          entry.metadata === undefined ? null : JSON.stringify(entry.metadata),
          ++this.seq,
        );
      }
      this.saveSeq();
      const stored = this.count('stored = 1');
      const excess = Math.max(0, stored - capacity);
      if (excess > 0) {
        this.sql.exec('DELETE FROM entries WHERE key IN (SELECT key FROM entries WHERE stored = 1 ORDER BY seq LIMIT ?)', excess);
        this.bump('evicted', excess);
      }
      return { stored: entries.length, evicted: excess };
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
    const counters = this.sql.exec<Record<Counter, number>>('SELECT granted, expired, evicted FROM meta WHERE id = 1').one();
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
    this.seq = this.sql.exec<{ seq: number }>('SELECT seq FROM meta WHERE id = 1').one().seq;
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
