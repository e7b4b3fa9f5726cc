import { edgeCosts, type Calibration } from './calibration.js';
import type { TestbedCosts } from './testbed-costs.js';
import { DEFAULT_MAX_PEER_STREAMS, type FleetInputs, type Policy } from './inputs.js';

// From a calibration to the model's inputs: the LAN bench's testbed (to check the model against
// its bursts), and a real fleet (what an operator asks about).

const MB = 1e6;
const MiB = 1024 * 1024;
/** BLOB_PIECE_BYTES' default (workers/config.ts). */
const PIECE_MIN_BYTES = 8 * MiB;
const LAN_RTT_S = 0.0005;

/**
 * Sidecar costs per byte, as two sidecars alone on the machine cost (the p2p section): the receiver's
 * figure includes streaming the blob on to its client, so serving is taken out of it.
 */
function sidecarCosts(cal: Calibration): FleetInputs['sidecarCosts'] {
  const http = 1 / (cal.sidecarHttpMBps.value * MB);
  const perMB = (figure: { value: number }) => figure.value / 1000 / MB;
  return { p2pSend: perMB(cal.p2pSendMsPerMB), p2pReceive: Math.max(0, perMB(cal.p2pReceiveMsPerMB) - http), httpServe: http, edgeReceive: http };
}

function dht(cal: Calibration): FleetInputs['dht'] {
  return { provideSeconds: cal.dhtProvideMs.value / 1000, findFirstSeconds: cal.dhtFindFirstMs.value / 1000, fullQuerySeconds: cal.dhtQueryMs.value / 1000 };
}

/**
 * The LAN bench: `hosts` simulated hosts in one site on one machine, one cold blob. Loopback has no
 * NIC or WAN limit; what is shared is the machine's cores, the edge's one thread, and the bench process
 * that runs every client. With the testbed's CPU costs for this host count (testbed-costs.ts) the
 * sidecars, the clients and the edge's fill cost what they cost there (the fill runs as fast as the
 * edge's thread lets it), and the cores other work took are not the burst's; without, the single-
 * stream figures, and the fill at the measured cold-pull rate.
 */
export function testbedInputs(cal: Calibration, hosts: number, policy: Policy): FleetInputs {
  const costs = cal.testbed?.find((c) => c.hosts === hosts);
  const cold = cal.lanColdMBps.value * MB;
  const edgeFill = costs?.edgeFill ?? 1 / cold;
  const clientReceive = costs?.clientReceiveFromEdge ?? 1 / (cal.lanClientsMBps.value * MB);
  return {
    sites: [{ hosts, wanBytesPerSec: Infinity, rttSeconds: cal.edgeFirstByteMs.value / 1000 }],
    layers: [cal.lanBlobBytes.value],
    hostNicBytesPerSec: Infinity,
    hostDiskBytesPerSec: Infinity,
    edge: { perRequestBytesPerSec: Infinity, egressBytesPerSec: Infinity, r2PutBytesPerSec: costs?.edgeFill ? Infinity : cold, pieceMinBytes: PIECE_MIN_BYTES, leaseSeconds: cal.leaseMs.value / 1000 },
    upstream: { bytesPerSec: Infinity, rttSeconds: cal.lanColdFirstByteMs.value / 1000 },
    policy,
    maxPeerStreams: DEFAULT_MAX_PEER_STREAMS,
    chunkBytes: MiB,
    lanRttSeconds: LAN_RTT_S,
    dht: dht(cal),
    dhtPerSite: false,
    sidecarCosts: costs ? { p2pSend: costs.p2pSend, p2pReceive: costs.p2pReceive, httpServe: costs.httpServe, edgeReceive: costs.httpServe } : sidecarCosts(cal),
    jitterSeconds: 0,
    seed: 1,
    testbed: {
      cores: cal.cores.value,
      edgeServe: edgeCosts(cal).serve,
      edgeFill,
      clientReceive,
      clientReceiveFromSidecar: costs?.clientReceiveFromSidecar ?? clientReceive,
      clientStreamBytesPerSec: cal.lanClientMBps.value * MB,
      sidecarBackgroundCores: costs ? sidecarBackground(costs, hosts, policy) : 0,
      otherCores: costs?.otherCores[policy] ?? 0,
    },
  };
}

/** The sidecars' load whatever they move: `off` starts none, the other policies one per host. */
function sidecarBackground(costs: TestbedCosts, hosts: number, policy: Policy): number {
  return policy === 'off' ? 0 : hosts * costs.sidecarCores;
}

export interface FleetSpec {
  hosts: number;
  sites: number;
  layers: number[];
  hostBytesPerSec: number;
  /** Each site's WAN link (bytes/s each way) and round trip to the edge. */
  wanBytesPerSec: number;
  wanRttSeconds: number;
  diskBytesPerSec?: number;
  edgeEgressBytesPerSec?: number;
  policy: Policy;
  maxPeerStreams?: number;
  jitterSeconds?: number;
  dhtPerSite?: boolean;
}

export const FLEET_DEFAULTS = { wanBytesPerSec: 1250 * MB, wanRttSeconds: 0.02, jitterSeconds: 1 };
/** The model moves a big fleet's LAN bytes in steps of about 1/32 of a layer (at least 4 MiB): each hop down a tree lags one step. */
const fleetChunk = (layers: number[]) => Math.max(4 * MiB, Math.ceil(Math.max(...layers) / 32));

/** A real fleet: hosts spread evenly over the sites, the edge's and the sidecars' rates as measured. */
export function fleetInputs(cal: Calibration, spec: FleetSpec): FleetInputs {
  const sites = Array.from({ length: spec.sites }, (_, s) => ({
    hosts: Math.floor(spec.hosts / spec.sites) + (s < spec.hosts % spec.sites ? 1 : 0),
    wanBytesPerSec: spec.wanBytesPerSec,
    rttSeconds: spec.wanRttSeconds,
  })).filter((s) => s.hosts > 0);
  return {
    sites,
    layers: spec.layers,
    hostNicBytesPerSec: spec.hostBytesPerSec,
    hostDiskBytesPerSec: spec.diskBytesPerSec ?? Infinity,
    edge: {
      perRequestBytesPerSec: cal.edgeServeMBps.value * MB,
      egressBytesPerSec: spec.edgeEgressBytesPerSec ?? Infinity,
      r2PutBytesPerSec: cal.r2PutMBps.value * MB,
      pieceMinBytes: PIECE_MIN_BYTES,
      leaseSeconds: cal.leaseMs.value / 1000,
    },
    upstream: { bytesPerSec: cal.upstreamMBps.value * MB, rttSeconds: spec.wanRttSeconds },
    policy: spec.policy,
    maxPeerStreams: spec.maxPeerStreams ?? DEFAULT_MAX_PEER_STREAMS,
    chunkBytes: fleetChunk(spec.layers),
    lanRttSeconds: LAN_RTT_S,
    dht: dht(cal),
    dhtPerSite: spec.dhtPerSite ?? false,
    sidecarCosts: sidecarCosts(cal),
    jitterSeconds: spec.jitterSeconds ?? FLEET_DEFAULTS.jitterSeconds,
    seed: 1,
  };
}
