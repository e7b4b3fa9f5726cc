export const PROTOCOL_PREFIX = '/fastreg';
export const BLOB_PROTOCOL = '/fastreg/blob/1.0.0';
/** Caps what a peer may have in flight on one stream; with the pause/resume reader this bounds receiver memory. */
export const MAX_STREAM_WINDOW = 2 * 1024 * 1024;
export const DIAL_TIMEOUT_MS = 5_000;
export const DHT_QUERY_TIMEOUT_MS = 10_000;
/** A P2P transfer that moves no bytes for this long is cut (a cut transfer resumes with another provider). */
export const PEER_IDLE_TIMEOUT_MS = 15_000;
/**
 * Peers one blob is streamed to at once (--max-peer-streams). Each follower reads the file on its
 * own, so a stream costs one 256 KiB read buffer plus a 2 MiB yamux window: memory is not the limit,
 * the sender's uplink and CPU are. Every stream gets about 1/K of them, and in a cut-through tree
 * the whole site moves at the slowest level's pace, uplink/K, while depth only adds per-hop latency
 * (log_K N levels: 5 for 1,000 hosts at K = 4). K = 4 keeps each child at a quarter of a LAN link
 * (~250 Mbit/s on 1 GbE, more than most sites' WAN link feeding the root, so the tree never waits
 * on the LAN), keeps noise+yamux at ~3.5 ms of CPU per MB from eating a build host's cores, and
 * matches BitTorrent's classic four upload slots.
 */
export const MAX_PEER_STREAMS = 4;
