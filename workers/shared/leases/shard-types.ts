// Answers of the LeaseShard actor (batch lease API for external workers). Plain data for RPC.

export type OffloadResult =
  | { kind: 'Granted'; expiresAt: number }
  | { kind: 'AlreadyStored'; size?: number }
  | { kind: 'Leased'; expiresAt: number };

export interface RegisterEntry {
  key: string;
  /**
   * The key this one follows in a chain (block i-1 of block i). A key with a registered child is not
   * evicted before that child, so a chain loses its tail first and match-prefix never finds a hole.
   */
  parent?: string;
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
  /** Evicted keys that still had a registered child (only when a shard held no leaf to evict). */
  orphaned: number;
}

/** A parent -> child link, kept by the shard of the parent. */
export interface ChildLink {
  parent: string;
  child: string;
}

export interface RegisterResult {
  stored: number;
  evicted: number;
  /** Links to drop at the parents' shards: evicted children, and children that changed parent. */
  unlinked: ChildLink[];
}
