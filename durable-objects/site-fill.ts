import { DurableObject } from 'cloudflare:workers';
import type { ClaimRequest, ClaimResult } from './site-fill-types.js';
import { MAX_HOLDER_NAME, MAX_LEASE_TTL_MS, MIN_LEASE_TTL_MS } from './constants.js';

export type * from './site-fill-types.js';

interface Claim {
  filler: string;
  expiresAt: number;
}

/**
 * One actor per (site, blob digest) (`SITE_FILL.getByName(siteFillKey(site, digest))`): which of a
 * site's sidecars fills the blob from the edge, so that the edge serves each blob once per site
 * and the site's other sidecars stream it from that one. State is one claim (filler, expiresAt) in
 * SQLite; an alarm deletes it once it expires.
 */
export class SiteFill extends DurableObject<Env> {
  private readonly sql: SqlStorage;
  private claimed: Claim | undefined;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    void ctx.blockConcurrencyWhile(async () => {
      this.createTable();
      const row = this.sql.exec<{ filler: string; expires_at: number }>('SELECT filler, expires_at FROM claim WHERE id = 1').toArray()[0];
      if (row) this.claimed = { filler: row.filler, expiresAt: row.expires_at };
    });
  }

  /**
   * Grants the claim when nobody live holds it (or the asker already does, or replaces the filler
   * it failed to stream from); else names the filler.
   */
  async claim(request: ClaimRequest): Promise<ClaimResult> {
    const now = Date.now();
    const sidecar = String(request.sidecar).slice(0, MAX_HOLDER_NAME);
    const current = this.claimed;
    const valid = current !== undefined && current.expiresAt > now && request.live.includes(current.filler) && current.filler !== request.replacing;
    if (valid && current.filler !== sidecar) return { kind: 'Held', filler: current.filler, expiresAt: current.expiresAt };
    const ttlMs = Math.min(MAX_LEASE_TTL_MS, Math.max(MIN_LEASE_TTL_MS, Math.floor(request.ttlMs)));
    this.claimed = { filler: sidecar, expiresAt: now + ttlMs };
    // The alarm's deleteAll() drops the table with the rest; this object may live on after it.
    this.createTable();
    this.sql.exec('INSERT OR REPLACE INTO claim (id, filler, expires_at) VALUES (1, ?, ?)', sidecar, this.claimed.expiresAt);
    await this.ctx.storage.setAlarm(this.claimed.expiresAt);
    return { kind: 'Granted', expiresAt: this.claimed.expiresAt };
  }

  private createTable(): void {
    this.sql.exec('CREATE TABLE IF NOT EXISTS claim (id INTEGER PRIMARY KEY CHECK (id = 1), filler TEXT NOT NULL, expires_at INTEGER NOT NULL)');
  }

  /** The current claim, for tests and operators. */
  current(): Claim | undefined {
    return this.claimed && this.claimed.expiresAt > Date.now() ? { ...this.claimed } : undefined;
  }

  /** Drops an expired claim and the object's storage with it. Idempotent: an alarm may fire twice. */
  override async alarm(): Promise<void> {
    const claimed = this.claimed;
    if (claimed && claimed.expiresAt > Date.now()) {
      await this.ctx.storage.setAlarm(claimed.expiresAt);
      return;
    }
    this.claimed = undefined;
    await this.ctx.storage.deleteAll();
  }
}
