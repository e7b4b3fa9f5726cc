// The bound on how many peers one sidecar streams a blob to at once (--max-peer-streams), and the
// pointers a peer beyond it gets instead. How the tree forms: a node streams a blob to at most K
// peers; the next asker gets `busy` with up to MAX_POINTERS of the peers receiving it now (furthest
// along first, rotated per answer so askers spread over the children) and asks them in turn. A
// receiver serves while it fills, under the same bound, so askers are pushed down level by level:
// a site fills as a tree of fan-out K rooted at the filler, about log_K(N) deep. Only the root
// (the sidecar filling from the edge) is announced while filling; the others are announced once
// they hold the whole blob, so new askers enter at the root and are sent down from there.
import { MAX_PEER_STREAMS } from '../node/constants.js';
import { MAX_POINTERS } from './wire.js';

export interface FanOutSlot {
  progress(bytes: number): void;
  release(): void;
}

interface Receiver {
  peer: string;
  sent: number;
}

export class FanOut {
  private readonly streams = new Map<string, Set<Receiver>>();
  private turn = 0;

  constructor(readonly max: number = MAX_PEER_STREAMS) {}

  /** A slot for streaming `digest` to `peer`, or undefined when `max` streams of it are running. */
  acquire(digest: string, peer: string): FanOutSlot | undefined {
    const receivers = this.streams.get(digest) ?? new Set<Receiver>();
    if (receivers.size >= this.max) return undefined;
    const receiver: Receiver = { peer, sent: 0 };
    receivers.add(receiver);
    this.streams.set(digest, receivers);
    let released = false;
    return {
      progress: (bytes) => {
        receiver.sent += bytes;
      },
      release: () => {
        if (released) return;
        released = true;
        receivers.delete(receiver);
        if (receivers.size === 0 && this.streams.get(digest) === receivers) this.streams.delete(digest);
      },
    };
  }

  /** Peers receiving `digest` from this node now (not `asker`), furthest along first, rotated per call. */
  pointers(digest: string, asker: string): string[] {
    const peers = [...new Set([...(this.streams.get(digest) ?? [])].sort((a, b) => b.sent - a.sent).map((r) => r.peer))].filter((peer) => peer !== asker);
    if (peers.length === 0) return [];
    const start = this.turn++ % peers.length;
    return [...peers.slice(start), ...peers.slice(0, start)].slice(0, MAX_POINTERS);
  }

  active(digest: string): number {
    return this.streams.get(digest)?.size ?? 0;
  }
}
