import type { PeerPointer } from './p2p/wire.js';

// The sidecar's error classes, in one place. OciError (workers/shared/oci) stays the one error that
// becomes an HTTP response; these are the sidecar's own failures: config, CLI, edge, P2P.

/** The edge answered with an error status; `code` and `message` come from its OCI error body when it had one. */
export class EdgeHttpError extends Error {
  override name = 'EdgeHttpError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** The edge could not be reached at all (refused, DNS, timeout). */
export class EdgeUnreachableError extends Error {
  override name = 'EdgeUnreachableError';
}

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

/** A failure the CLI reports as one clear line and a non-zero exit code. */
export class CliError extends Error {
  constructor(message: string, readonly exitCode = 1) {
    super(message);
    this.name = 'CliError';
  }
}

export class ProtocolError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ProtocolError';
  }
}

/** The peer answered but does not hold the blob: try the next provider, no penalty. */
export class PeerLacksBlobError extends Error {
  override name = 'PeerLacksBlobError';
}

/** The peer misbehaved at the protocol level (wrong size, too many bytes): penalize it. */
export class PeerMisbehavedError extends Error {
  override name = 'PeerMisbehavedError';
}

/** The peer did not open the stream or answer within the deadline: it stalls fetches, so it is penalized too. */
export class PeerSilentError extends PeerMisbehavedError {
  override name = 'PeerSilentError';
}

/** The peer streams this blob to as many peers as it allows; `peers` receive it from it now. */
export class PeerBusyError extends Error {
  override name = 'PeerBusyError';
  constructor(
    message: string,
    readonly peers: PeerPointer[],
  ) {
    super(message);
  }
}

export class StreamClosedError extends Error {
  constructor(message = 'stream closed') {
    super(message);
    this.name = 'StreamClosedError';
  }
}

/** A transfer that moved no bytes for too long: the peer stalled (or stopped reading). */
export class PeerStalledError extends Error {
  override name = 'PeerStalledError';
}
