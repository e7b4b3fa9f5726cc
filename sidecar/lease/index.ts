// `fastreg/lease-client`: the typed client of the edge's batch lease API, as the package exports it.
export { LEASE_CLIENT_DEFAULTS, LeaseClient } from './client.js';
export type { KeyOffload, LeaseClientOptions, LeaseShardStats, OffloadResult, PrefixMatch, RegisterAck, RegisterEntry } from './client.js';
export { LeaseClientClosedError, LeaseError, LeaseTimeoutError, LeaseUnreachableError, LeaseVersionError } from './errors.js';
export { LEASE_PROTOCOL_VERSION } from '../../workers/shared/leases/batch-api.js';
