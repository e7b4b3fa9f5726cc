// HTTP headers of the registry API and of FastReg's edge <-> sidecar contract. Web-standard only.

/** Every registry API response names the API version it speaks. */
export const API_VERSION_HEADER = 'Docker-Distribution-API-Version';
export const API_VERSION = 'registry/2.0';
/** The API version header as a headers object, to spread into a response's headers. */
export const API_VERSION_HEADERS: Readonly<Record<string, string>> = { [API_VERSION_HEADER]: API_VERSION };

/** Set on blob and manifest responses: where the bytes came from (r2, upstream, peer, edge, p2p, local). */
export const SOURCE_HEADER = 'X-FastReg-Source';
/** Sidecars fetch from the edge with this header (their peer ID); such a request is never redirected (loop guard). */
export const PEER_HEADER = 'X-FastReg-Peer';

// One filler per site (issue 11).

/** On a `307` to a sidecar's own edge request: the peer ID of the site's sidecar filling this blob. */
export const FILLER_HEADER = 'X-FastReg-Filler';
/** Beside FILLER_HEADER: that sidecar's libp2p multiaddrs, comma-separated, when its record has them. */
export const FILLER_ADDRS_HEADER = 'X-FastReg-Filler-Addrs';
/**
 * Sent by a sidecar that was pointed at a filler and could not stream from it: the edge then serves
 * the blob itself instead of pointing at the filler again. The value is the filler's peer ID.
 */
export const FILLER_FAILED_HEADER = 'X-FastReg-Filler-Failed';
