import { MAX_POINTERS } from '../../sidecar/p2p/wire.js';
import { BlobCopy, copy } from './blob-copy.js';
import type { Edge } from './edge.js';
import type { Host, World } from './world.js';

// A sidecar (sidecar/blob-resolver.ts, sidecar/fill/, sidecar/p2p/fan-out.ts). A blob it does not
// hold is filled once, whoever asks: DHT providers first, else the edge, which either serves it (this
// sidecar is the site's filler, announced at once) or names the filler to stream from over P2P.
// Every reader follows the fill as it grows. One blob goes to at most K peers at once; the next
// asker gets `busy` with the receivers, furthest along first, rotated per answer, and asks them.

const MAX_PEER_ATTEMPTS = 32;
/** The first provider lookup returns this long after the first answer (PROVIDER_SETTLE_MS). */
const PROVIDER_SETTLE_SECONDS = 0.1;
/** Providers one lookup returns (Kademlia's k). */
const LOOKUP_PROVIDERS = 20;

type Answer = { kind: 'streaming' } | { kind: 'busy' | 'lacks'; pointers: Sidecar[] };

/** Provider records: who announced each layer, in order; one swarm, or one per site. */
export class Dht {
  private readonly providers = new Map<string, Sidecar[]>();
  private turn = 0;

  constructor(private readonly perSite: boolean) {}

  announce(layer: number, sidecar: Sidecar): void {
    const key = this.key(layer, sidecar);
    const list = this.providers.get(key) ?? [];
    list.push(sidecar);
    this.providers.set(key, list);
  }

  /** Up to k providers `asker` can find; which ones rotates (the closest by XOR distance are effectively random). */
  lookup(layer: number, asker: Sidecar): Sidecar[] {
    const list = this.providers.get(this.key(layer, asker)) ?? [];
    if (list.length <= LOOKUP_PROVIDERS) return [...list];
    const start = this.turn++ % list.length;
    return [...list.slice(start), ...list.slice(0, start)].slice(0, LOOKUP_PROVIDERS);
  }

  private key(layer: number, sidecar: Sidecar): string {
    return this.perSite ? `${sidecar.host.site.index}/${layer}` : String(layer);
  }
}

interface Receiver {
  peer: Sidecar;
  sent: number;
}

export class Sidecar {
  private readonly fills = new Map<number, BlobCopy>();
  private readonly receivers = new Map<number, Receiver[]>();
  private turn = 0;
  private streams = 0;
  peakStreams = 0;
  /** P2P hops from the site's filler, per layer. */
  readonly depth = new Map<number, number>();

  constructor(
    readonly host: Host,
    private readonly world: World,
    private readonly edge: Edge,
    private readonly dht: Dht,
  ) {}

  /** A client's GET that the edge sent here, streamed into `into`. */
  serveClient(layer: number, client: Host, into: BlobCopy, done: () => void): void {
    const fill = this.open(layer);
    this.streamStarted();
    copy(this.world.sim, fill, into, {
      uses: this.world.httpUses(this.host, client),
      cap: this.world.clientCap(),
      done: () => {
        this.streams--;
        done();
      },
    });
  }

  /** `/fastreg/blob/1.0.0` from `asker`: a stream into `into`, or busy with pointers, or lacks. */
  streamTo(asker: Sidecar, layer: number, into: BlobCopy): Answer {
    const fill = this.fills.get(layer);
    if (!fill) return { kind: 'lacks', pointers: [] };
    const receivers = this.receivers.get(layer) ?? [];
    this.receivers.set(layer, receivers);
    if (receivers.length >= this.world.inputs.maxPeerStreams) return { kind: 'busy', pointers: this.pointers(receivers, asker) };
    const receiver: Receiver = { peer: asker, sent: 0 };
    receivers.push(receiver);
    this.streamStarted();
    asker.depth.set(layer, (this.depth.get(layer) ?? 0) + 1);
    if (asker.host.site !== this.host.site) {
      asker.host.site.p2pIn += into.size;
      this.host.site.p2pOut += into.size;
    }
    copy(this.world.sim, fill, into, {
      uses: this.world.p2pUses(this.host, asker.host),
      cap: Infinity,
      progress: (bytes) => (receiver.sent = bytes),
      done: () => {
        receivers.splice(receivers.indexOf(receiver), 1);
        this.streams--;
        asker.announceLater(layer);
      },
    });
    return { kind: 'streaming' };
  }

  private pointers(receivers: Receiver[], asker: Sidecar): Sidecar[] {
    const peers = [...receivers].sort((a, b) => b.sent - a.sent).map((r) => r.peer).filter((p) => p !== asker);
    if (peers.length === 0) return [];
    const start = this.turn++ % peers.length;
    return [...peers.slice(start), ...peers.slice(0, start)].slice(0, MAX_POINTERS);
  }

  private streamStarted(): void {
    this.streams++;
    this.peakStreams = Math.max(this.peakStreams, this.streams);
  }

  private open(layer: number): BlobCopy {
    const existing = this.fills.get(layer);
    if (existing) return existing;
    const { sim, inputs } = this.world;
    const fill = new BlobCopy(inputs.layers[layer]!, inputs.chunkBytes, sim.now);
    this.fills.set(layer, fill);
    const known = this.dht.lookup(layer, this).length > 0;
    sim.after(known ? inputs.dht.findFirstSeconds + PROVIDER_SETTLE_SECONDS : inputs.dht.fullQuerySeconds, () => {
      const providers = this.dht.lookup(layer, this).filter((p) => p !== this);
      if (providers.length > 0) this.fromPeers(layer, fill, providers, 0, () => this.fromEdge(layer, fill, false));
      else this.fromEdge(layer, fill, false);
    });
    return fill;
  }

  /** The edge GET with X-FastReg-Peer: the SiteFill claim decides who fills from the edge. */
  private fromEdge(layer: number, fill: BlobCopy, fillerFailed: boolean): void {
    const { sim, inputs } = this.world;
    sim.after(inputs.sites[this.host.site.index]!.rttSeconds + inputs.edge.leaseSeconds, () => {
      const filler = this.edge.claim(this, layer, fillerFailed);
      if (filler !== this) {
        this.fromPeers(layer, fill, [filler], 0, () => this.fromEdge(layer, fill, true));
        return;
      }
      this.depth.set(layer, 0);
      this.announceLater(layer);
      this.edge.serve(layer, this.host, false, fill, () => undefined);
    });
  }

  /** Tries peers in turn; a busy peer's pointers go first. */
  private fromPeers(layer: number, fill: BlobCopy, queue: Sidecar[], attempts: number, otherwise: () => void): void {
    const peer = queue.shift();
    if (peer === undefined || attempts >= MAX_PEER_ATTEMPTS) return otherwise();
    if (peer === this) return this.fromPeers(layer, fill, queue, attempts, otherwise);
    const { inputs, sim } = this.world;
    const rtt = peer.host.site === this.host.site ? inputs.lanRttSeconds : inputs.sites[this.host.site.index]!.rttSeconds + inputs.sites[peer.host.site.index]!.rttSeconds;
    sim.after(rtt, () => {
      const answer = peer.streamTo(this, layer, fill);
      if (answer.kind === 'streaming') return;
      queue.unshift(...answer.pointers);
      this.fromPeers(layer, fill, queue, attempts + 1, otherwise);
    });
  }

  private announceLater(layer: number): void {
    this.world.sim.after(this.world.inputs.dht.provideSeconds, () => this.dht.announce(layer, this));
  }
}
