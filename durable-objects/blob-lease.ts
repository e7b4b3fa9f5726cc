import { DurableObject } from 'cloudflare:workers';
import { deletePieces } from '../workers/shared/blob-pieces.js';
import { getConfig } from '../workers/shared/edge-config.js';
import { parseDigest } from '../workers/shared/oci/index.js';
import type {
  AcquireOptions,
  AcquireResult,
  BlobLeaseStats,
  CompleteResult,
  FillProgress,
  LeaseFailure,
  ReleaseResult,
  RenewResult,
  StoredBlob,
  WaitFillResult,
  WaitResult,
} from './blob-lease-types.js';
import { ABANDONED_FILL_DROP_MS, IDLE_STORAGE_DROP_MS, MAX_HOLDER_NAME, MAX_LEASE_HOLDERS, MAX_LEASE_TTL_MS, MAX_WAIT_MS, MIN_LEASE_TTL_MS } from './constants.js';

export type * from './blob-lease-types.js';

interface Holder {
  holder: string;
  expiresAt: number;
}

interface Waiter {
  resolve: (result: WaitFillResult) => void;
  timer: ReturnType<typeof setTimeout>;
  /** For waitFill: woken as soon as more than this many pieces are stored. */
  afterPieces?: number;
}

type Counter = 'granted' | 'renewed' | 'expired' | 'released' | 'completed';

/** A fill in progress as the object keeps it: its progress without the generation, and the blob it fills. */
interface Fill extends Omit<FillProgress, 'generation'> {
  digest: string;
  /** When its last holder went (expired or released) with pieces stored; unset while someone holds it. */
  leftAt?: number;
}

/** `wait` (the manifest protocol) knows nothing of piece fills. Without `afterPieces` a waiter never gets Progress. */
const withoutGeneration = ({ generation: _, ...result }: WaitFillResult): WaitResult => result as WaitResult;

const clamp = (value: number, min: number, max: number) => Math.min(max, Math.max(min, Math.floor(value)));

/**
 * One actor per blob digest (`BLOB_LEASE.getByName(digest)`): decides who fetches the blob from
 * upstream. State is absent | leased(holders, expiresAt) | stored(size, location), kept in SQLite
 * and mirrored in memory so the hot path is synchronous.
 *
 * Absent costs nothing: reads never write, the tables are made by the first write, and once the
 * object holds nothing a later request needs (not stored, no holder, no waiter, no stored piece of a
 * fill to continue) an alarm deletes its storage IDLE_STORAGE_DROP_MS later, so requests for digests
 * that never arrive (404s, bad names, random probes) leave no state behind. The delay keeps a key that
 * is acquired and released in a loop from creating and dropping its tables on every round. A fill
 * that nobody holds any more keeps its stored pieces for a holder to continue them, for
 * ABANDONED_FILL_DROP_MS; then the alarm deletes the pieces from R2 and the state with them.
 */
export class BlobLease extends DurableObject<Env> {
  private readonly sql: SqlStorage;
  private readonly holders = new Map<string, Holder>();
  private stored: StoredBlob | undefined;
  private fill: Fill | undefined;
  /**
   * Starts at a random value in an object without storage: readers compare it for equality, and one
   * that followed a discarded fill must never see its old value come back after the storage was dropped.
   */
  private generation = randomGeneration();
  private readonly counters: Record<Counter, number> = { granted: 0, renewed: 0, expired: 0, released: 0, completed: 0 };
  private readonly waiters = new Set<Waiter>();
  /** The alarm time we last asked for; saves a storage call per grant. */
  private alarmAt: number | null = null;
  /** Whether the tables exist (the first write makes them; dropping the storage removes them). */
  private persisted = false;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    void ctx.blockConcurrencyWhile(async () => {
      this.load();
      this.alarmAt = await ctx.storage.getAlarm();
    });
  }

  acquire(holder: string, options: AcquireOptions = {}): Promise<AcquireResult> | AcquireResult {
    if (this.stored) return { kind: 'AlreadyStored', ...this.stored };
    const now = Date.now();
    this.expireDue(now);
    const { ttlMs, maxHolders } = this.limits(options);
    if (this.holders.size >= maxHolders) return { kind: 'Leased', expiresAt: this.earliestExpiry()!, ...this.fillField() };
    const leaseId = crypto.randomUUID();
    const expiresAt = now + ttlMs;
    const name = String(holder).slice(0, MAX_HOLDER_NAME);
    this.holders.set(leaseId, { holder: name, expiresAt });
    this.write('INSERT INTO holders (lease_id, holder, expires_at) VALUES (?, ?, ?)', leaseId, name, expiresAt);
    if (this.fill?.leftAt !== undefined) this.saveFill({ ...this.fill, leftAt: undefined });
    this.bump('granted');
    const granted: AcquireResult = { kind: 'Granted', leaseId, expiresAt, ...this.fillField() };
    // Holders only ever get later expiries, so an alarm already set for an earlier one still covers this one.
    return this.alarmNoLaterThan(expiresAt)?.then(() => granted) ?? granted;
  }

  renew(leaseId: string, ttlMs?: number): RenewResult {
    if (this.stored) return { kind: 'AlreadyStored', ...this.stored };
    const now = Date.now();
    this.expireDue(now);
    const lease = this.holders.get(leaseId);
    if (!lease) return { kind: 'Lost' };
    lease.expiresAt = now + this.limits({ ttlMs }).ttlMs;
    this.write('UPDATE holders SET expires_at = ? WHERE lease_id = ?', lease.expiresAt, leaseId);
    this.bump('renewed');
    return { kind: 'Renewed', expiresAt: lease.expiresAt };
  }

  /**
   * The holder starts (or, after a takeover, continues) a piece-wise fill of `size` bytes. A fill
   * already recorded with the same shape is kept, so its stored pieces count; another shape starts over.
   */
  begin(leaseId: string, digest: string, size: number, pieceBytes: number): FillProgress | RenewResult {
    if (!Number.isSafeInteger(size) || size < 0 || !Number.isSafeInteger(pieceBytes) || pieceBytes <= 0) {
      throw new TypeError(`begin needs a size >= 0 and pieceBytes > 0, got ${String(size)} and ${String(pieceBytes)}`);
    }
    // The pieces' keys derive from it: an abandoned fill's pieces are deleted by those keys.
    const blob = parseDigest(String(digest)).value;
    const renewed = this.renew(leaseId);
    if (renewed.kind !== 'Renewed') return renewed;
    if (this.fill?.size !== size || this.fill.pieceBytes !== pieceBytes) this.saveFill({ digest: blob, size, pieceBytes, pieces: 0 });
    // A fill recorded by a version that did not name its blob keeps its pieces, and learns the name.
    else if (this.fill.digest !== blob) this.saveFill({ ...this.fill, digest: blob });
    this.wakeProgress();
    return this.fillView()!;
  }

  /** The holder stored the first `pieces` pieces (never the last: that one comes with `complete`). Renews the lease. */
  announce(leaseId: string, pieces: number): RenewResult {
    const renewed = this.renew(leaseId);
    if (renewed.kind !== 'Renewed' || !this.fill) return renewed.kind === 'Renewed' ? { kind: 'Lost' } : renewed;
    const last = Math.max(0, Math.ceil(this.fill.size / this.fill.pieceBytes) - 1);
    if (!Number.isSafeInteger(pieces) || pieces < 0 || pieces > last) throw new RangeError(`announce: ${String(pieces)} is not a piece count below ${last + 1}`);
    if (pieces > this.fill.pieces) {
      this.saveFill({ ...this.fill, pieces });
      this.wakeProgress();
    }
    return renewed;
  }

  /** Records the blob as stored. Anyone may complete: the bytes were verified against the digest before. */
  complete(leaseId: string, size: number, location: string): CompleteResult {
    if (this.stored) return { kind: 'AlreadyStored', ...this.stored };
    if (!Number.isSafeInteger(size) || size < 0 || typeof location !== 'string' || location === '') {
      throw new TypeError(`complete needs a size >= 0 and a location, got ${String(size)} and ${JSON.stringify(location)}`);
    }
    const wasHolder = this.holders.has(leaseId);
    this.stored = { size, location };
    this.saveFill(undefined);
    this.holders.clear();
    this.write('DELETE FROM holders');
    this.write('UPDATE meta SET size = ?, location = ?, completed = completed + 1 WHERE id = 1', size, location);
    this.counters.completed++;
    this.wakeAll({ kind: 'Stored', ...this.stored });
    return { kind: 'Stored', wasHolder, ...this.stored };
  }

  /**
   * Gives the lease up (fetch failed or was abandoned) and wakes the waiters so one of them takes over.
   * `failure`, if given, is passed on to the waiters (it is not stored: only they need it).
   */
  release(leaseId: string, reason = 'released', failure?: LeaseFailure, discard = false): ReleaseResult | Promise<ReleaseResult> {
    if (!this.holders.delete(leaseId)) return { kind: 'NotHolder' };
    this.write('DELETE FROM holders WHERE lease_id = ?', leaseId);
    this.bump('released');
    if (reason !== 'released') console.log(`blob lease ${leaseId} released: ${String(reason).slice(0, 200)}`);
    // Discarded pieces are gone (the holder deleted them); a fill that merely stopped stays for the next holder.
    const discarded = discard && this.fill !== undefined;
    if (discarded) this.discardFill();
    if (this.holders.size > 0 && !discarded) return { kind: 'Released', remainingHolders: this.holders.size };
    const free: WaitResult = { kind: 'Free', reason: 'released' };
    if (failure) {
      free.failure = { code: String(failure.code).slice(0, 40), message: String(failure.message).slice(0, 500) };
      if (failure.scope !== undefined) free.failure.scope = String(failure.scope).slice(0, 300);
    }
    this.wakeAll(free);
    const released: ReleaseResult = { kind: 'Released', remainingHolders: this.holders.size };
    // Synchronous unless the alarm moves: a key acquired and released in a loop stays on the fast path.
    return (this.scheduleDropIfIdle() ?? this.scheduleAbandonment(Date.now()))?.then(() => released) ?? released;
  }

  /**
   * Resolves when the blob is stored, when nobody holds the lease any more, or when this waiter's own
   * deadline passes. Callers that go away do not cancel a pending wait, so the deadline is mandatory.
   */
  wait(timeoutMs: number): WaitResult | Promise<WaitResult> {
    const parked = this.park(timeoutMs);
    return parked instanceof Promise ? parked.then(withoutGeneration) : withoutGeneration(parked);
  }

  /**
   * Like `wait`, and also resolves with `Progress` once more than `afterPieces` pieces are stored
   * (pass -1 to learn of the fill's start). A reader of a filling blob streams piece by piece on it.
   */
  waitFill(afterPieces: number, timeoutMs: number): WaitFillResult | Promise<WaitFillResult> {
    return this.park(timeoutMs, Number(afterPieces));
  }

  /** Waits for stored, free, the deadline, or (with `afterPieces`) more pieces. Without `afterPieces` it never answers Progress. */
  private park(timeoutMs: number, afterPieces?: number): WaitFillResult | Promise<WaitFillResult> {
    const generation = this.generation;
    if (this.stored) return { kind: 'Stored', ...this.stored, generation };
    const now = Date.now();
    const expired = this.expireDue(now);
    const fill = afterPieces === undefined ? undefined : this.fillView();
    if (fill && fill.pieces > afterPieces!) return { kind: 'Progress', fill, generation };
    if (this.holders.size === 0) return { kind: 'Free', reason: expired > 0 ? 'expired' : 'absent', generation };
    const deadline = clamp(Number(timeoutMs) || 0, 0, MAX_WAIT_MS);
    return new Promise<WaitFillResult>((resolve) => {
      const waiter: Waiter = {
        resolve,
        afterPieces: Number.isFinite(afterPieces) ? afterPieces : undefined,
        timer: setTimeout(() => {
          // A holder may have died without the alarm having run yet: expiring here wakes everyone.
          this.expireDue(Date.now());
          if (!this.waiters.delete(waiter)) return;
          resolve({ kind: 'Timeout', expiresAt: this.earliestExpiry() ?? Date.now(), generation: this.generation });
        }, deadline),
      };
      this.waiters.add(waiter);
    });
  }

  stats(): BlobLeaseStats {
    const state = this.stored ? 'stored' : this.holders.size > 0 ? 'leased' : 'absent';
    return {
      state,
      holders: this.holders.size,
      expiresAt: this.earliestExpiry(),
      waiters: this.waiters.size,
      ...this.stored,
      ...this.fillField(),
      ...this.counters,
    };
  }

  /** Forgets a stored blob whose bytes turned out to be gone (e.g. deleted from R2), so it is fetched again. */
  async forget(location: string): Promise<boolean> {
    if (!this.stored || this.stored.location !== location) return false;
    this.stored = undefined;
    this.write('UPDATE meta SET size = NULL, location = NULL WHERE id = 1');
    await this.scheduleDropIfIdle();
    return true;
  }

  /** Expires due leases, and drops the storage if nothing is left. Idempotent: an alarm may fire more than once. */
  override async alarm(): Promise<void> {
    this.alarmAt = null;
    const now = Date.now();
    this.expireDue(now);
    const next = this.earliestExpiry();
    if (next !== undefined && !this.stored) await this.scheduleAlarm(next);
    if (this.fill?.leftAt !== undefined && this.fill.leftAt + ABANDONED_FILL_DROP_MS <= now && this.holders.size === 0) await this.dropAbandonedFill();
    else await this.scheduleAbandonment(now);
    await this.dropIfIdle();
  }

  /** Loads the state of an object that has storage; one without keeps the defaults and writes nothing. */
  private load(): void {
    const hasTables = this.sql.exec(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'`).toArray().length > 0;
    if (!hasTables) return;
    this.createTables();
    const meta = this.sql.exec<Record<string, number | string | null>>('SELECT * FROM meta WHERE id = 1').one();
    if (meta.size !== null && meta.location !== null) this.stored = { size: Number(meta.size), location: String(meta.location) };
    if (meta.fill_size !== null && meta.fill_piece_bytes !== null) {
      this.fill = {
        digest: String(meta.fill_digest ?? ''),
        size: Number(meta.fill_size),
        pieceBytes: Number(meta.fill_piece_bytes),
        pieces: Number(meta.fill_pieces ?? 0),
        ...(meta.fill_left_at === null ? {} : { leftAt: Number(meta.fill_left_at) }),
      };
    }
    // Objects from before the random start have none yet: keep this instance's, so the next one agrees.
    if (meta.generation === null) this.sql.exec('UPDATE meta SET generation = ? WHERE id = 1', this.generation);
    else this.generation = Number(meta.generation);
    for (const key of Object.keys(this.counters) as Counter[]) this.counters[key] = Number(meta[key]);
    for (const row of this.sql.exec<{ lease_id: string; holder: string; expires_at: number }>('SELECT * FROM holders')) {
      this.holders.set(row.lease_id, { holder: row.holder, expiresAt: row.expires_at });
    }
  }

  /** A write; the first one creates the tables (with this object's generation). */
  private write(query: string, ...bindings: SqlStorageValue[]): void {
    if (!this.persisted) {
      this.createTables();
      this.sql.exec('UPDATE meta SET generation = ? WHERE id = 1', this.generation);
    }
    this.sql.exec(query, ...bindings);
  }

  /** Not stored, no holder (so no waiter either), and no stored piece of a fill to continue. */
  private isIdle(): boolean {
    return !this.stored && this.holders.size === 0 && this.waiters.size === 0 && (this.fill?.pieces ?? 0) === 0;
  }

  /** Brings the alarm forward to IDLE_STORAGE_DROP_MS from now, when the object went idle with storage. */
  private scheduleDropIfIdle(): Promise<void> | undefined {
    if (!this.persisted || !this.isIdle()) return undefined;
    return this.alarmNoLaterThan(Date.now() + IDLE_STORAGE_DROP_MS);
  }

  /**
   * When the last holder of a fill with stored pieces has gone (released now, or found expired by the
   * alarm), notes the time and sets the alarm that deletes the pieces if nobody continues them.
   */
  private scheduleAbandonment(now: number): Promise<void> | undefined {
    if (!this.fill || this.fill.pieces === 0 || this.holders.size > 0 || this.stored) return undefined;
    if (this.fill.leftAt === undefined) this.saveFill({ ...this.fill, leftAt: now });
    return this.alarmNoLaterThan((this.fill.leftAt as number) + ABANDONED_FILL_DROP_MS);
  }

  /**
   * Deletes the pieces of a fill nobody continued, then its state (readers of it, if any came back,
   * see the generation move on). No request runs meanwhile: a new holder's first piece has the same
   * key as the old one's and must not be deleted with it.
   */
  private async dropAbandonedFill(): Promise<void> {
    const fill = this.fill as Fill;
    await this.ctx.blockConcurrencyWhile(async () => {
      if (fill.digest) await deletePieces(this.env.BLOBS, parseDigest(fill.digest), fill);
      console.log(`blob lease: deleted the ${fill.pieces} stored piece(s) of an abandoned fill of ${fill.digest || 'an unnamed blob'}`);
      this.discardFill();
    });
  }

  /** Forgets the fill and moves the generation on, so a reader that followed it knows its bytes are void. */
  private discardFill(): void {
    this.generation++;
    this.write('UPDATE meta SET generation = ? WHERE id = 1', this.generation);
    this.saveFill(undefined);
  }

  /**
   * Deletes the storage (tables and alarm) of an idle object. The generation stays in memory for
   * readers of this instance; a new instance starts at a random one. The deletion takes effect at the
   * call, so a write that follows it (a new acquire) is kept.
   */
  private async dropIfIdle(): Promise<void> {
    if (!this.persisted || !this.isIdle()) return;
    this.persisted = false;
    this.fill = undefined;
    this.alarmAt = null;
    for (const key of Object.keys(this.counters) as Counter[]) this.counters[key] = 0;
    await this.ctx.storage.deleteAll();
  }

  private createTables(): void {
    this.persisted = true;
    this.sql.exec(`CREATE TABLE IF NOT EXISTS holders (lease_id TEXT PRIMARY KEY, holder TEXT NOT NULL, expires_at INTEGER NOT NULL)`);
    this.sql.exec(`CREATE TABLE IF NOT EXISTS meta (
      id INTEGER PRIMARY KEY CHECK (id = 1), size INTEGER, location TEXT,
      granted INTEGER NOT NULL DEFAULT 0, renewed INTEGER NOT NULL DEFAULT 0, expired INTEGER NOT NULL DEFAULT 0,
      released INTEGER NOT NULL DEFAULT 0, completed INTEGER NOT NULL DEFAULT 0)`);
    this.sql.exec('INSERT OR IGNORE INTO meta (id) VALUES (1)');
    // Objects created before piece-wise fills lack the fill columns.
    const columns = new Set([...this.sql.exec<{ name: string }>('PRAGMA table_info(meta)')].map((row) => row.name));
    for (const [column, type] of Object.entries({ fill_size: 'INTEGER', fill_piece_bytes: 'INTEGER', fill_pieces: 'INTEGER', generation: 'INTEGER', fill_digest: 'TEXT', fill_left_at: 'INTEGER' })) {
      if (!columns.has(column)) this.sql.exec(`ALTER TABLE meta ADD COLUMN ${column} ${type}`);
    }
  }

  private limits(options: AcquireOptions): { ttlMs: number; maxHolders: number } {
    const config = getConfig(this.env);
    return {
      ttlMs: clamp(options.ttlMs ?? config.LEASE_TTL_MS, MIN_LEASE_TTL_MS, MAX_LEASE_TTL_MS),
      maxHolders: clamp(options.maxHolders ?? config.LEASE_MAX_HOLDERS, 1, MAX_LEASE_HOLDERS),
    };
  }

  /** Drops holders whose lease ran out; wakes waiters when the last one goes. Returns how many expired. */
  private expireDue(now: number): number {
    let expired = 0;
    for (const [leaseId, lease] of this.holders) {
      if (lease.expiresAt > now) continue;
      this.holders.delete(leaseId);
      expired++;
    }
    if (expired === 0) return 0;
    this.write('DELETE FROM holders WHERE expires_at <= ?', now);
    this.bump('expired', expired);
    if (this.holders.size === 0) this.wakeAll({ kind: 'Free', reason: 'expired' });
    return expired;
  }

  private saveFill(fill: Fill | undefined): void {
    this.fill = fill;
    this.write(
      'UPDATE meta SET fill_digest = ?, fill_size = ?, fill_piece_bytes = ?, fill_pieces = ?, fill_left_at = ? WHERE id = 1',
      fill?.digest ?? null,
      fill?.size ?? null,
      fill?.pieceBytes ?? null,
      fill?.pieces ?? null,
      fill?.leftAt ?? null,
    );
  }

  private fillView(): FillProgress | undefined {
    const fill = this.fill;
    return fill ? { size: fill.size, pieceBytes: fill.pieceBytes, pieces: fill.pieces, generation: this.generation } : undefined;
  }

  private fillField(): { fill?: FillProgress } {
    const fill = this.fillView();
    return fill ? { fill } : {};
  }

  /** Wakes the piece readers that have not seen the stored pieces yet. */
  private wakeProgress(): void {
    const fill = this.fillView();
    if (!fill) return;
    for (const waiter of this.waiters) {
      if (waiter.afterPieces === undefined || fill.pieces <= waiter.afterPieces) continue;
      clearTimeout(waiter.timer);
      this.waiters.delete(waiter);
      waiter.resolve({ kind: 'Progress', fill: { ...fill }, generation: fill.generation });
    }
  }

  private earliestExpiry(): number | undefined {
    let earliest: number | undefined;
    for (const { expiresAt } of this.holders.values()) if (earliest === undefined || expiresAt < earliest) earliest = expiresAt;
    return earliest;
  }

  private wakeAll(result: WaitResult): void {
    for (const waiter of this.waiters) {
      clearTimeout(waiter.timer);
      waiter.resolve({ ...result, generation: this.generation });
    }
    this.waiters.clear();
  }

  private bump(counter: Counter, by = 1): void {
    this.counters[counter] += by;
    this.write(`UPDATE meta SET ${counter} = ${counter} + ? WHERE id = 1`, by);
  }

  /** Sets the alarm for `at` unless one is already due by then (undefined: nothing to wait for). */
  private alarmNoLaterThan(at: number): Promise<void> | undefined {
    return this.alarmAt === null || this.alarmAt > at ? this.scheduleAlarm(at) : undefined;
  }

  private async scheduleAlarm(at: number): Promise<void> {
    this.alarmAt = at;
    await this.ctx.storage.setAlarm(at);
  }
}

function randomGeneration(): number {
  return crypto.getRandomValues(new Uint32Array(1))[0]!;
}
