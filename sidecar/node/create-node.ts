import '../polyfills.js';
import { noise } from '@chainsafe/libp2p-noise';
import { yamux } from '@chainsafe/libp2p-yamux';
import { identify } from '@libp2p/identify';
import type { Libp2p, PrivateKey } from '@libp2p/interface';
import { kadDHT, passthroughMapper, type KadDHT, type SelectFn, type ValidateFn } from '@libp2p/kad-dht';
import { mdns } from '@libp2p/mdns';
import { ping, type Ping } from '@libp2p/ping';
import { tcp } from '@libp2p/tcp';
import { createLibp2p } from 'libp2p';
import { MAX_STREAM_WINDOW, PROTOCOL_PREFIX } from './constants.js';
import { selectKvRecord, validateKvRecord } from './kv-record.js';
import type { SwarmKey } from '../../workers/shared/sidecars/swarm-key.js';
import { swarmPrologue } from './swarm-key.js';

export type SidecarServices = { dht: KadDHT; ping: Ping; identify: unknown };
export type SidecarLibp2p = Libp2p<SidecarServices>;

export interface NodeOptions {
  privateKey: PrivateKey;
  listen: string[];
  /** The private swarm's key; without one, any peer may connect. */
  swarmKey?: SwarmKey;
  mdns?: boolean;
  /** How long provider records stay valid; tests shorten it. */
  providerValidityMs?: number;
}

/** A libp2p node set up for a LAN: kad-dht in server mode that keeps private addresses. */
export async function createSidecarNode(options: NodeOptions): Promise<SidecarLibp2p> {
  return createLibp2p({
    privateKey: options.privateKey,
    addresses: { listen: options.listen },
    transports: [tcp()],
    connectionEncrypters: [noise(options.swarmKey ? { prologueBytes: swarmPrologue(options.swarmKey) } : {})],
    streamMuxers: [yamux({ streamOptions: { maxStreamWindowSize: MAX_STREAM_WINDOW } })],
    peerDiscovery: options.mdns ? [mdns({ serviceTag: 'fastreg.local' })] : [],
    connectionManager: {
      // Nodes that start together all dial each other at once; the default (5/s per IP) starves them.
      inboundConnectionThreshold: 1_000,
      maxConnections: 300,
    },
    services: sidecarServices({ validate: validateKvRecord, select: selectKvRecord }, options.providerValidityMs),
  });
}

/**
 * The services a FastReg node runs, on FastReg's protocol prefix: identify, ping and a kad-dht in
 * server mode that keeps private addresses. `kvRecords` decides which `/fastreg/` DHT records it keeps.
 */
export function sidecarServices(kvRecords: { validate: ValidateFn; select: SelectFn }, providerValidityMs?: number) {
  return {
    identify: identify({ protocolPrefix: PROTOCOL_PREFIX.slice(1) }),
    ping: ping({ protocolPrefix: PROTOCOL_PREFIX.slice(1) }),
    dht: kadDHT({
      protocol: `${PROTOCOL_PREFIX}/kad/1.0.0`,
      clientMode: false,
      peerInfoMapper: passthroughMapper,
      allowQueryWithZeroPeers: true,
      validators: { fastreg: kvRecords.validate },
      selectors: { fastreg: kvRecords.select },
      ...(providerValidityMs ? { reprovide: { validity: providerValidityMs } } : {}),
    }),
  };
}
