import { LEASE_PROTOCOL_VERSION } from '../../workers/shared/leases/batch-api.js';

// Named errors of the lease client. Each carries the lease protocol version the client speaks, so a
// caller that logs an error also logs which side of a version change it is on.

export class LeaseError extends Error {
  override name = 'LeaseError';
  /** The protocol version this client speaks. */
  readonly protocolVersion = LEASE_PROTOCOL_VERSION;
  constructor(
    message: string,
    /** The edge's OCI error code (e.g. UNAUTHORIZED, INVALID_REQUEST), or the client's own (TIMEOUT, UNREACHABLE, INVALID_RESPONSE). */
    readonly code: string,
    /** HTTP status, when the edge answered. */
    readonly status?: number,
  ) {
    super(message);
  }
}

/** The edge speaks another version of the lease protocol. */
export class LeaseVersionError extends LeaseError {
  override name = 'LeaseVersionError';
  constructor(
    message: string,
    /** Versions the edge said it supports (empty when it did not say). */
    readonly supported: number[],
    status?: number,
  ) {
    super(message, 'UNSUPPORTED_VERSION', status);
  }
}

/** The edge did not answer within the request timeout. */
export class LeaseTimeoutError extends LeaseError {
  override name = 'LeaseTimeoutError';
  constructor(message: string) {
    super(message, 'TIMEOUT');
  }
}

/** The edge could not be reached (refused, DNS, TLS). */
export class LeaseUnreachableError extends LeaseError {
  override name = 'LeaseUnreachableError';
  constructor(message: string) {
    super(message, 'UNREACHABLE');
  }
}

/** The client was closed; registrations queued after close() are refused. */
export class LeaseClientClosedError extends LeaseError {
  override name = 'LeaseClientClosedError';
  constructor() {
    super('lease client is closed', 'CLOSED');
  }
}
