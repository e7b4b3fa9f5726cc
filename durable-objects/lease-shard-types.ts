// Answers of the LeaseShard actor (batch lease API for external workers). Plain data for RPC.

export type OffloadResult =
  | { kind: 'Granted'; expiresAt: number }
  | { kind: 'AlreadyStored'; size?: number }
  | { kind: 'Leased'; expiresAt: number };

export interface RegisterEntry {
  key: string;
  value?: string;
  size?: number;
  metadata?: Record<string, unknown>;
}

export interface LookupResult {
  stored: boolean;
  value?: string;
}

export interface LeaseShardStats {
  /** Leases currently held (not expired). */
  active: number;
  /** Leases ever granted. */
  granted: number;
  /** Leases that ran out before their key was registered. */
  expired: number;
  /** Keys currently registered. */
  stored: number;
  /** Registered keys dropped to stay within capacity. */
  evicted: number;
}
