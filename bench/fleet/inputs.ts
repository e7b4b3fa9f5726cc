import { MAX_PEER_STREAMS } from '../../sidecar/node/constants.js';

// What the fleet model is asked: the fleet, the image, the links, the edge, the protocol's knobs and
// the per-component costs (from a bench run's calibration). Bytes, seconds and bytes per second.

export const POLICIES = ['rendezvous', 'spread', 'local', 'off'] as const;
export type Policy = (typeof POLICIES)[number];

export interface SiteSpec {
  hosts: number;
  /** The site's WAN link, each direction (bytes/s). */
  wanBytesPerSec: number;
  /** Round trip from the site to the edge (s). */
  rttSeconds: number;
}

/** Seconds of one core per byte moved, on the sidecar's one thread (Node) at each end. */
export interface SidecarCosts {
  p2pSend: number;
  p2pReceive: number;
  httpServe: number;
  /** Receiving a fill from the edge over HTTP (hash and write included). */
  edgeReceive: number;
}

/**
 * The LAN bench's testbed: every simulated host, the edge and the clients share one machine. Not
 * present in a real fleet; used to predict the bench's own bursts.
 */
export interface Testbed {
  cores: number;
  /** Core seconds per byte on the edge's one thread (workerd): serving, and filling from the upstream. */
  edgeServe: number;
  edgeFill: number;
  /** Core seconds per byte on the bench process that runs every client (from the edge, from a sidecar), and one client's own top rate. */
  clientReceive: number;
  clientReceiveFromSidecar: number;
  clientStreamBytesPerSec: number;
  /** Cores the sidecars use together whatever they move, and cores other work on the machine takes: neither is left for the burst. */
  sidecarBackgroundCores: number;
  otherCores: number;
}

export interface FleetInputs {
  sites: SiteSpec[];
  layers: number[];
  /** Each host's NIC (each direction) and disk write rate. */
  hostNicBytesPerSec: number;
  hostDiskBytesPerSec: number;
  edge: {
    /** One response's top rate. */
    perRequestBytesPerSec: number;
    /** All responses together (Infinity: a distributed edge). */
    egressBytesPerSec: number;
    /** One fill's R2 put rate. */
    r2PutBytesPerSec: number;
    /** BLOB_PIECE_BYTES: the smallest piece. */
    pieceMinBytes: number;
    /** A BlobLease or SiteFill call (s). */
    leaseSeconds: number;
  };
  upstream: { bytesPerSec: number; rttSeconds: number };
  policy: Policy;
  maxPeerStreams: number;
  /** How far a sidecar's follower reads at once in the model (it follows the file byte by byte). */
  chunkBytes: number;
  lanRttSeconds: number;
  dht: { provideSeconds: number; findFirstSeconds: number; fullQuerySeconds: number };
  /** One DHT per site (a swarm key per site) instead of one across the fleet, which finds providers in any site. */
  dhtPerSite: boolean;
  sidecarCosts: SidecarCosts;
  /** Hosts start within [0, jitter) s, uniformly (seeded). */
  jitterSeconds: number;
  seed: number;
  testbed?: Testbed;
}

export interface FleetResult {
  hosts: number;
  policy: Policy;
  /** Seconds from a host's start to its last layer, sorted. */
  completions: number[];
  p50: number;
  p99: number;
  p999: number;
  max: number;
  upstreamBytes: number;
  edgeBytes: number;
  /** Per site: bytes in from the edge, and P2P bytes in and out over its WAN link. */
  wan: Array<{ site: number; fromEdge: number; p2pIn: number; p2pOut: number }>;
  /** The most streams (P2P and HTTP) one sidecar sent at once. */
  peakStreams: number;
  /** The deepest P2P hop count from a site filler. */
  treeDepth: number;
  /** The component that bound the pull (see limitOf). */
  limit: string;
  utilization: Array<{ component: string; busyFraction: number }>;
}

export const DEFAULT_MAX_PEER_STREAMS = MAX_PEER_STREAMS;
