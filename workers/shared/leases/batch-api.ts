// The batch lease API's contract (POST /leases/*): shared by the edge routes and the lease client.

/** Batch API bounds. */
export const LEASE_BATCH_MAX_KEYS = 1_000;
export const LEASE_KEY_MAX_LENGTH = 1_024;
export const LEASE_VALUE_MAX_LENGTH = 4_096;
export const LEASE_METADATA_MAX_BYTES = 4_096;
/** The batch API's protocol version; requests name the version they speak. */
export const LEASE_PROTOCOL_VERSION = 1;
