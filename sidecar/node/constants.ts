export const PROTOCOL_PREFIX = '/fastreg';
export const BLOB_PROTOCOL = '/fastreg/blob/1.0.0';
/** Caps what a peer may have in flight on one stream; with the pause/resume reader this bounds receiver memory. */
export const MAX_STREAM_WINDOW = 2 * 1024 * 1024;
export const DIAL_TIMEOUT_MS = 5_000;
export const DHT_QUERY_TIMEOUT_MS = 10_000;
/** A P2P transfer that moves no bytes for this long is cut (a cut transfer resumes with another provider). */
export const PEER_IDLE_TIMEOUT_MS = 15_000;
