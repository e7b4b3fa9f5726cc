// Nodes sharing a --service tag find each other through the DHT: each provides the tag's CID,
// then looks up the other providers and dials them, every interval. Once nodes know each other
// through the DHT, the mesh no longer depends on the bootstrap node.
import type { Multiaddr } from '@multiformats/multiaddr';
import { setTimeout as sleep } from 'node:timers/promises';
import { DIAL_TIMEOUT_MS } from './constants.js';
import type { SidecarLibp2p } from './create-node.js';
import type { DhtRouter } from './routing.js';

const BOOTSTRAP_ATTEMPTS = 30;
const BOOTSTRAP_RETRY_MS = 1_000;
/** The service tag is provided every this many rounds (a provide is a DHT query plus K puts); lookups run every round. */
const PROVIDE_EVERY_ROUNDS = 10;

export interface ServiceDiscoveryOptions {
  node: SidecarLibp2p;
  router: DhtRouter;
  service: string;
  bootstrap: Multiaddr[];
  intervalMs: number;
  log: (message: string) => void;
  signal: AbortSignal;
}

export class ServiceDiscovery {
  private running: Promise<void> | undefined;
  private rounds = 0;

  constructor(private readonly options: ServiceDiscoveryOptions) {}

  start(): void {
    this.running = this.run().catch((err) => {
      if (!this.options.signal.aborted) this.options.log(`service discovery stopped: ${(err as Error).message}`);
    });
  }

  async stopped(): Promise<void> {
    await this.running;
  }

  private async run(): Promise<void> {
    const { signal } = this.options;
    await this.dialBootstrap(BOOTSTRAP_ATTEMPTS);
    while (!signal.aborted) {
      await this.round();
      await sleep(this.options.intervalMs, undefined, { signal }).catch(() => undefined);
    }
  }

  /** One provide + lookup + dial pass; exposed for tests and for a fast first round. */
  async round(): Promise<void> {
    const { node, router, signal, log } = this.options;
    if (node.getPeers().length === 0 && this.options.bootstrap.length > 0) await this.dialBootstrap(1);
    if (this.rounds++ % PROVIDE_EVERY_ROUNDS === 0) {
      try {
        await router.provideService(this.options.service, signal);
      } catch (err) {
        if (!signal.aborted) log(`provide service tag failed: ${(err as Error).message}`);
      }
    }
    if (signal.aborted) return;
    const providers = await router.findServiceMembers(this.options.service, { limit: 100, timeoutMs: 5_000, signal }).catch(() => []);
    const connected = new Set(node.getPeers().map(String));
    await Promise.all(
      providers
        .filter((provider) => !connected.has(provider.id.toString()))
        .map(async (provider) => {
          try {
            if (provider.multiaddrs.length > 0) await node.peerStore.merge(provider.id, { multiaddrs: provider.multiaddrs });
            await node.dial(provider.id, { signal: AbortSignal.any([signal, AbortSignal.timeout(DIAL_TIMEOUT_MS)]) });
          } catch {
            // dead providers stay listed until their records expire
          }
        }),
    );
  }

  private async dialBootstrap(attempts: number): Promise<void> {
    const { node, signal, log } = this.options;
    await Promise.all(
      this.options.bootstrap.map(async (addr) => {
        for (let attempt = 1; attempt <= attempts && !signal.aborted; attempt++) {
          try {
            await node.dial(addr, { signal: AbortSignal.any([signal, AbortSignal.timeout(DIAL_TIMEOUT_MS)]) });
            return;
          } catch (err) {
            if (attempt === attempts) log(`bootstrap ${addr.toString()} unreachable: ${(err as Error).message}`);
            else await sleep(BOOTSTRAP_RETRY_MS, undefined, { signal }).catch(() => undefined);
          }
        }
      }),
    );
  }
}
