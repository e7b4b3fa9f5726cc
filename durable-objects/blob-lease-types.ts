// Answers of the BlobLease actor's RPC methods. Plain data, so they cross the RPC boundary as-is.

export interface StoredBlob {
  size: number;
  /** Where the bytes are, e.g. the R2 key. */
  location: string;
}

/**
 * A blob fill in progress: the blob is written to R2 as fixed-size pieces, and `pieces` of them are
 * stored (all but the last; the last is announced only by `complete`, once the digest is verified).
 * It outlives its holder, so a takeover continues from `pieces` instead of starting over.
 */
export interface FillProgress {
  size: number;
  pieceBytes: number;
  pieces: number;
  /**
   * Moves on with every discarded fill of this blob (from a random start, see BlobLease). A reader that
   * sees another generation than the one it streamed from knows its bytes came from a discarded fill,
   * even if it missed the wake-up.
   */
  generation: number;
}

export interface Granted {
  kind: 'Granted';
  leaseId: string;
  expiresAt: number;
  fill?: FillProgress;
}

export type AcquireResult =
  | Granted
  | ({ kind: 'AlreadyStored' } & StoredBlob)
  | { kind: 'Leased'; expiresAt: number; fill?: FillProgress };

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
  /**
   * What the answer is about, e.g. `docker.io/library/alpine`: an upstream's "not found" or "denied"
   * for one repository says nothing about the same digest in another, so only waiters of the same
   * scope share it.
   */
  scope?: string;
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

/**
 * Answers of `waitFill`: `Progress` once more pieces than the caller has seen are stored (or the fill
 * began). Every answer carries the blob's fill generation: a reader that sees it move on knows the
 * fill it passed bytes from was discarded (wrong bytes, pieces deleted) and must fail its stream.
 */
export type WaitFillResult = ({ kind: 'Progress'; fill: FillProgress } | WaitResult) & { generation: number };

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
  fill?: FillProgress;
  granted: number;
  renewed: number;
  expired: number;
  released: number;
  completed: number;
}
