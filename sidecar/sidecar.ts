import './polyfills.js';
import { serve, type ServerType } from '@hono/node-server';
import { peerIdFromString } from '@libp2p/peer-id';
import { multiaddr } from '@multiformats/multiaddr';
import { parseDigest } from '../workers/shared/oci/index.js';
import { BlobResolver } from './blob-resolver.js';
import type { SidecarConfig } from './config.js';
import { HttpEdgeSource } from './edge/edge-source.js';
import { EdgeSession } from './edge/enrollment.js';
import { HttpEdgeRegistrar } from './edge/http-registrar.js';
import { keepRegistered } from './edge/registration.js';
import type { SidecarHooks } from './hooks.js';
import { createBridgeApp } from './http/app.js';
import { createMetrics } from './metrics.js';
import { BLOB_PROTOCOL } from './node/constants.js';
import { createSidecarNode, type SidecarLibp2p } from './node/create-node.js';
import { loadOrCreateIdentity } from './node/identity.js';
import { readSwarmKey } from './node/swarm-key.js';
import { DhtRouter } from './node/routing.js';
import { ServiceDiscovery } from './node/service-discovery.js';
import { blobStreamHandler } from './p2p/blob-server.js';
import { FanOut } from './p2p/fan-out.js';
import { PenaltyBox } from './p2p/penalty-box.js';
import { FsBlobStore } from './store/fs-store.js';

export interface SidecarOptions {
  hooks?: SidecarHooks;
  log?: (message: string) => void;
  penaltyMs?: number;
}

/** One running sidecar: libp2p node, blob store, P2P protocol, HTTP bridge and background loops. */
export class Sidecar {
  private timers: NodeJS.Timeout[] = [];
  private background: Promise<unknown>[] = [];

  private constructor(
    readonly config: SidecarConfig,
    readonly node: SidecarLibp2p,
    readonly store: FsBlobStore,
    readonly resolver: BlobResolver,
    private readonly discovery: ServiceDiscovery,
    private readonly server: ServerType,
    readonly httpUrl: string,
    private readonly controller: AbortController,
  ) {}

  static async start(config: SidecarConfig, options: SidecarOptions = {}): Promise<Sidecar> {
    const log = options.log ?? ((message: string) => process.stderr.write(`fastreg sidecar: ${message}\n`));
    const hooks = options.hooks ?? {};
    const privateKey = await loadOrCreateIdentity(config.keyFile);
    const controller = new AbortController();
    const signal = controller.signal;
    // Enrolled before the node starts: the edge hands out the swarm key the node needs to connect.
    const session =
      config.edge && config.enrollToken ? await EdgeSession.open({ edgeUrl: config.edge, enrollToken: config.enrollToken, privateKey, signal, log }) : undefined;
    // An explicit --open-swarm wins over the edge's key: the operator asked for it, and is warned.
    const swarmKey = config.pskFile ? await readSwarmKey(config.pskFile) : config.swarm === 'edge' ? session?.current.swarmKey : undefined;
    if (!swarmKey) log('WARNING: open swarm (--open-swarm): any libp2p peer that can reach this node may connect, announce blobs and write DHT records');
    const metrics = createMetrics();
    const store = await FsBlobStore.open({ dir: config.storageDir, capacity: config.capacity });
    const node = await createSidecarNode({ privateKey, listen: config.listen, swarmKey, mdns: config.mdns });
    const router = new DhtRouter(node);
    const peerId = node.peerId.toString();
    const resolver = new BlobResolver({
      node,
      router,
      store,
      penalties: new PenaltyBox(options.penaltyMs),
      metrics,
      hooks,
      edge: config.edge ? new HttpEdgeSource({ edgeUrl: config.edge, peerId, ...(session && { token: session.credential }) }) : undefined,
      idleTimeoutMs: config.peerIdleTimeout,
      log,
      signal,
    });
    metrics.bind({ peers: () => node.getPeers().length, store: () => store.usage() });
    const handler = blobStreamHandler({
      blobs: resolver.local,
      fanOut: new FanOut(config.maxPeerStreams),
      addressesOf: async (peer) => (await node.peerStore.get(peerIdFromString(peer))).addresses.map((address) => address.multiaddr.toString()),
      metrics,
      hooks,
      idleTimeoutMs: config.peerIdleTimeout,
      signal,
    });
    await node.handle(BLOB_PROTOCOL, handler, { maxInboundStreams: 256 });
    if (config.mdns) {
      node.addEventListener('peer:discovery', (event) => {
        // libp2p does not dial what mDNS finds; do it here.
        node.dial(event.detail.id, { signal: AbortSignal.timeout(5_000) }).catch(() => undefined);
      });
    }
    const addrs = () => node.getMultiaddrs().map(String);
    const app = createBridgeApp({
      store,
      resolver,
      router,
      metrics,
      token: config.token,
      pullKey: () => (session?.current.pullAccess === 'token' ? session.current.redirectKey : undefined),
      info: () => ({ peerId, addrs: addrs(), service: config.service }),
      peers: () => node.getConnections().map((c) => ({ peerId: c.remotePeer.toString(), addrs: [c.remoteAddr.toString()] })),
    });
    const { server, url } = await listen(app.fetch, config.http.host, config.http.port);
    const discovery = new ServiceDiscovery({
      node,
      router,
      service: config.service,
      bootstrap: config.bootstrap.map((addr) => multiaddr(addr)),
      intervalMs: config.discoveryInterval,
      log,
      signal,
    });
    const sidecar = new Sidecar(config, node, store, resolver, discovery, server, url, controller);
    discovery.start();
    sidecar.reprovideEvery(config.reprovideInterval);
    if (session && config.edge) {
      if (session.current.resource !== config.service) log(`registering in the edge's resource "${session.current.resource}" (its SIDECAR_RESOURCE), not "${config.service}"`);
      const registrar = new HttpEdgeRegistrar({ edgeUrl: config.edge, token: session.credential, heartbeatIntervalMs: config.heartbeatInterval, onUnauthorized: session.renewSoon });
      sidecar.background.push(session.keepFresh(signal, log));
      sidecar.background.push(
        keepRegistered(registrar, () => ({ service: session.current.resource, peerId, httpUrl: url, multiaddrs: addrs() }), {
          intervalMs: config.heartbeatInterval,
          signal,
          log,
        }),
      );
    }
    return sidecar;
  }

  get peerId(): string {
    return this.node.peerId.toString();
  }

  get multiaddrs(): string[] {
    return this.node.getMultiaddrs().map(String);
  }

  /** Re-announces every held blob now and then periodically, so provider records never lapse. */
  private reprovideEvery(intervalMs: number): void {
    const announceAll = async () => {
      for (const blob of await this.store.list()) {
        if (this.controller.signal.aborted) return;
        await this.resolver.announce(parseDigest(blob.digest));
      }
    };
    this.background.push(announceAll());
    this.timers.push(setInterval(() => void announceAll(), intervalMs));
  }

  async stop(): Promise<void> {
    this.controller.abort();
    for (const timer of this.timers) clearInterval(timer);
    this.server.close();
    (this.server as { closeAllConnections?: () => void }).closeAllConnections?.();
    await this.node.stop();
    await Promise.allSettled([this.discovery.stopped(), ...this.background]);
  }
}

function listen(fetch: Parameters<typeof serve>[0]['fetch'], hostname: string, port: number): Promise<{ server: ServerType; url: string }> {
  return new Promise((resolve, reject) => {
    const server = serve({ fetch, hostname, port }, (info) => {
      const host = info.family === 'IPv6' ? `[${info.address}]` : info.address;
      resolve({ server, url: `http://${host}:${info.port}` });
    });
    server.once('error', reject);
  });
}
