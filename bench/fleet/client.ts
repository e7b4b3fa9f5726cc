import { BlobCopy } from './blob-copy.js';
import type { Edge } from './edge.js';
import type { Policy } from './inputs.js';
import type { Sidecar } from './sidecar.js';
import type { Host, World } from './world.js';

// A host's image pull (Docker or containerd): every layer at once, each a GET to the edge, which
// serves it or redirects it to a sidecar of the host's site (workers/sites/redirect.ts).

export class Redirects {
  private turn = 0;

  constructor(
    private readonly policy: Policy,
    private readonly sidecars: ReadonlyMap<Host, Sidecar>,
  ) {}

  /** The sidecar a client's GET is sent to, or undefined when the edge serves it. */
  target(host: Host, layer: number): Sidecar | undefined {
    if (this.policy === 'off' || this.sidecars.size === 0) return undefined;
    if (this.policy === 'local') return this.sidecars.get(host);
    const site = host.site.hosts;
    if (this.policy === 'spread') {
      this.turn = (this.turn + 1) % 1_000_000;
      return this.sidecars.get(site[this.turn % site.length]!);
    }
    let best = site[0]!;
    for (const candidate of site) if (weight(layer, candidate.index) > weight(layer, best.index)) best = candidate;
    return this.sidecars.get(best);
  }
}

/** Highest random weight of (layer, host), as the edge hashes (digest, sidecar id). */
function weight(layer: number, host: number): number {
  let h = Math.imul(layer + 1, 0x9e3779b1) ^ Math.imul(host + 1, 0x85ebca77);
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d);
  h = Math.imul(h ^ (h >>> 15), 0x846ca68b);
  return (h ^ (h >>> 16)) >>> 0;
}

/** Starts `host`'s pull at `startAt`; `done` gets the seconds it took. */
export function pullImage(world: World, edge: Edge, redirects: Redirects, host: Host, startAt: number, done: (seconds: number) => void): void {
  const { sim, inputs } = world;
  const rtt = inputs.sites[host.site.index]!.rttSeconds;
  sim.after(startAt, () => {
    let left = inputs.layers.length;
    const finished = () => {
      if (--left === 0) done(sim.now - startAt);
    };
    inputs.layers.forEach((size, layer) => {
      sim.after(rtt, () => {
        const into = new BlobCopy(size, size, sim.now);
        const sidecar = redirects.target(host, layer);
        if (!sidecar) edge.serve(layer, host, true, into, finished);
        else sim.after(inputs.lanRttSeconds, () => sidecar.serveClient(layer, host, into, finished));
      });
    });
  });
}
