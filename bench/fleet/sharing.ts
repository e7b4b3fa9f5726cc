import { MinHeap } from './min-heap.js';

// Resources with bandwidth sharing: every flow uses some resources (a NIC direction, a WAN link, the
// edge's egress, a process's CPU), each with a weight (bytes → units of that resource, e.g. core
// seconds per byte for a CPU), and may have a cap of its own. Rates are the weighted max-min fair
// allocation (progressive filling): all unfrozen flows grow together until a resource saturates or
// a flow reaches its cap; those flows freeze; repeat.

export type ResourceKind = 'edge-egress' | 'edge-cpu' | 'upstream' | 'site-wan' | 'host-nic' | 'host-disk' | 'sidecar-cpu' | 'machine-cpu' | 'client-cpu';

export class Resource {
  /** Current load, Σ weight × rate of the flows using it. */
  load = 0;
  /** ∫ load / capacity dt: seconds of full use. */
  busySeconds = 0;
  // Scratch state of one allocation.
  frozenLoad = 0;
  weights = 0;
  members: SharedFlow[] = [];
  version = 0;
  stamp = -1;

  constructor(
    readonly name: string,
    readonly kind: ResourceKind,
    readonly capacity: number,
  ) {}

  /** The common rate of its unfrozen flows at which it saturates. */
  level(): number {
    return (this.capacity - this.frozenLoad) / this.weights;
  }
}

export interface Use {
  resource: Resource;
  weight: number;
}

export interface SharedFlow {
  uses: readonly Use[];
  /** The flow's own limit (bytes/s), Infinity when none. */
  cap: number;
  rate: number;
  /** Scratch of allocate: the allocation that froze the flow's rate. */
  frozenIn?: number;
}

const EPSILON = 1e-12;
let allocation = 0;

/**
 * Sets every flow's rate to its weighted max-min fair share. All unfrozen flows share one rising
 * level; the next event is the resource that saturates first (a heap of their levels) or the
 * smallest cap; the flows it binds freeze there. O((flows × uses) log resources).
 */
export function allocate(flows: readonly SharedFlow[]): void {
  const stamp = allocation++;
  const resources: Resource[] = [];
  let frozenCount = 0;
  const isFrozen = (flow: SharedFlow) => flow.frozenIn === stamp;
  for (const flow of flows) {
    flow.rate = 0;
    for (const { resource, weight } of flow.uses) {
      if (resource.stamp !== stamp) {
        resource.stamp = stamp;
        resource.frozenLoad = 0;
        resource.weights = 0;
        resource.members = [];
        resources.push(resource);
      }
      resource.weights += weight;
      resource.members.push(flow);
    }
  }
  const heap = new LevelHeap();
  for (const r of resources) if (r.weights > EPSILON) heap.push(r.level(), r, ++r.version);
  const capped = flows.filter((f) => Number.isFinite(f.cap)).sort((a, b) => a.cap - b.cap);
  let nextCap = 0;
  // Resources whose level moved in this step: re-queued once each when the step's flows are frozen
  // (a saturated link freezes hundreds of flows, which share a few resources).
  const touched = new Set<Resource>();
  const freeze = (flow: SharedFlow, rate: number) => {
    flow.frozenIn = stamp;
    frozenCount++;
    flow.rate = Math.max(0, rate);
    for (const { resource, weight } of flow.uses) {
      resource.frozenLoad += weight * flow.rate;
      resource.weights -= weight;
      touched.add(resource);
    }
  };
  const requeue = () => {
    for (const resource of touched) {
      if (resource.weights > EPSILON) heap.push(resource.level(), resource, ++resource.version);
      else resource.version++;
    }
    touched.clear();
  };
  while (frozenCount < flows.length) {
    while (nextCap < capped.length && isFrozen(capped[nextCap]!)) nextCap++;
    const top = heap.peek();
    const capLevel = nextCap < capped.length ? capped[nextCap]!.cap : Infinity;
    if (top === undefined && capLevel === Infinity) {
      // Nothing limits these flows (an unlimited link): they move at once.
      for (const flow of flows) if (!isFrozen(flow)) flow.rate = Infinity;
      break;
    }
    if (top === undefined || capLevel <= top.level) {
      freeze(capped[nextCap]!, capLevel);
      requeue();
      continue;
    }
    heap.pop();
    for (const flow of top.resource.members) if (!isFrozen(flow)) freeze(flow, top.level);
    requeue();
  }
  for (const flow of flows) for (const { resource, weight } of flow.uses) if (Number.isFinite(flow.rate)) resource.load += weight * flow.rate;
}

interface LevelEntry {
  level: number;
  resource: Resource;
  version: number;
}

/** Resource levels, lowest first; an entry whose resource has moved on since is skipped. */
class LevelHeap {
  private readonly heap = new MinHeap<LevelEntry>((a, b) => a.level < b.level);

  push(level: number, resource: Resource, version: number): void {
    this.heap.push({ level, resource, version });
  }

  peek(): LevelEntry | undefined {
    for (let top = this.heap.peek(); top !== undefined && top.version !== top.resource.version; top = this.heap.peek()) this.heap.pop();
    return this.heap.peek();
  }

  pop(): void {
    this.heap.pop();
  }
}
