// Answers of the BlobLease actor's RPC methods. Plain data, so they cross the RPC boundary as-is.

export interface StoredBlob {
  size: number;
  /** Where the bytes are, e.g. the R2 key. */
  location: string;
}

export type AcquireResult =
  | { kind: 'Granted'; leaseId: string; expiresAt: number }
  | ({ kind: 'AlreadyStored' } & StoredBlob)
  | { kind: 'Leased'; expiresAt: number };

export type RenewResult =
  | { kind: 'Renewed'; expiresAt: number }
  | ({ kind: 'AlreadyStored' } & StoredBlob)
  /** The lease expired, was released, or never existed: stop fetching or finish without it. */
  | { kind: 'Lost' };

export type CompleteResult =
  | ({ kind: 'Stored'; wasHolder: boolean } & StoredBlob)
  | ({ kind: 'AlreadyStored' } & StoredBlob);

/** Why a holder gave up: an OCI error code and message. */
export interface LeaseFailure {
  code: string;
  message: string;
}

export type ReleaseResult = { kind: 'Released'; remainingHolders: number } | { kind: 'NotHolder' };

export type WaitResult =
  | ({ kind: 'Stored' } & StoredBlob)
  /**
   * Nobody holds the lease any more (released, expired, or never taken): acquire now. `failure` is
   * what the last holder reported when it gave up, so waiters can tell a definitive answer (e.g. the
   * upstream does not have the blob) from a transient one worth taking over.
   */
  | { kind: 'Free'; reason: 'released' | 'expired' | 'absent'; failure?: LeaseFailure }
  /** The waiter's own deadline passed while the lease was still held. */
  | { kind: 'Timeout'; expiresAt: number };

export interface AcquireOptions {
  /** Lease time to live; defaults to LEASE_TTL_MS. */
  ttlMs?: number;
  /** How many holders may fetch at once; defaults to LEASE_MAX_HOLDERS. */
  maxHolders?: number;
}

export interface BlobLeaseStats {
  state: 'absent' | 'leased' | 'stored';
  holders: number;
  /** Earliest expiry among the current holders. */
  expiresAt?: number;
  waiters: number;
  size?: number;
  location?: string;
  granted: number;
  renewed: number;
  expired: number;
  released: number;
  completed: number;
}
