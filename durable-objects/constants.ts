// Defaults and bounds of the lease actors.

/** Bounds for a caller-supplied lease TTL. */
export const MIN_LEASE_TTL_MS = 100;
export const MAX_LEASE_TTL_MS = 3_600_000;
export const MAX_LEASE_HOLDERS = 64;
/** Longest a single wait() may block; callers loop for longer waits. */
export const MAX_WAIT_MS = 300_000;
export const MAX_HOLDER_NAME = 200;
/** How long a BlobLease that went idle (nothing stored, nobody holding) keeps its storage before its alarm drops it. */
export const IDLE_STORAGE_DROP_MS = 5_000;
/**
 * How long the stored pieces of a fill that nobody holds any more wait for a holder to continue them
 * (a takeover, or the next request of the blob), before the BlobLease deletes them with its state.
 */
export const ABANDONED_FILL_DROP_MS = 15 * 60_000;

/** BlobLeaseClient: loop bound (each round serves, fills, or waits until the lease changes hands). */
export const COALESCE_MAX_ROUNDS = 50;
/** BlobLeaseClient: how long a follower waits for other fetchers in total before UNAVAILABLE. */
export const COALESCE_WAIT_DEADLINE_MS = 10 * 60_000;
/** How long past its own deadline a wait RPC may take before the caller stops trusting it. */
export const WAIT_GRACE_MS = 1_000;

/** Fixed number of LeaseShard objects the batch API spreads keys over. Changing it re-homes every key. */
export const LEASE_SHARD_COUNT = 16;
