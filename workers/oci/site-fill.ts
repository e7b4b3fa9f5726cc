// The edge <-> sidecar contract for "one filler per site" (issue 11). Web-standard only.

/** On a `307` to a sidecar's own edge request: the peer ID of the site's sidecar filling this blob. */
export const FILLER_HEADER = 'X-FastReg-Filler';
/** Beside FILLER_HEADER: that sidecar's libp2p multiaddrs, comma-separated, when its record has them. */
export const FILLER_ADDRS_HEADER = 'X-FastReg-Filler-Addrs';
/**
 * Sent by a sidecar that was pointed at a filler and could not stream from it: the edge then serves
 * the blob itself instead of pointing at the filler again. The value is the filler's peer ID.
 */
export const FILLER_FAILED_HEADER = 'X-FastReg-Filler-Failed';
