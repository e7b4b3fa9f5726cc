import { pullImage, Redirects } from './client.js';
import { Edge } from './edge.js';
import type { FleetInputs, FleetResult } from './inputs.js';
import { Dht, Sidecar } from './sidecar.js';
import type { ResourceKind } from './sharing.js';
import { World, type Host } from './world.js';

// One image pull across a fleet: every host starts within the jitter, and the model runs until the
// last host has every layer.

const COMPONENT: Record<ResourceKind, string> = {
  'edge-egress': 'edge egress',
  'edge-cpu': 'edge thread (testbed)',
  upstream: 'edge fill (upstream, R2 put)',
  'site-wan': 'site WAN link',
  'host-nic': 'sidecar NIC',
  'host-disk': 'host disk',
  'sidecar-cpu': 'sidecar CPU (one thread)',
  'machine-cpu': 'shared machine CPU (testbed)',
  'client-cpu': 'client process (testbed)',
};
/** Below this, no component was busy most of the pull: latency and tree depth bound it. */
const BUSY_LIMIT = 0.5;
const MODEL_TIME_LIMIT_S = 1e6;

export interface RunOptions {
  /** Events closer than this (s) share one rate update. */
  window?: number;
}

export function runFleet(inputs: FleetInputs, options: RunOptions = {}): FleetResult {
  const hostCount = inputs.sites.reduce((n, s) => n + s.hosts, 0);
  if (hostCount < 1 || inputs.layers.length < 1) throw new Error('fleet model: needs at least one host and one layer');
  const world = new World(inputs, options.window ?? defaultWindow(hostCount));
  const edge = new Edge(world);
  const dht = new Dht(inputs.dhtPerSite);
  const sidecars = new Map<Host, Sidecar>(inputs.policy === 'off' && inputs.testbed ? [] : world.hosts.map((h) => [h, new Sidecar(h, world, edge, dht)]));
  const redirects = new Redirects(inputs.policy, sidecars);
  const random = mulberry32(inputs.seed);
  const completions: number[] = [];
  let end = 0;
  for (const host of world.hosts) {
    const startAt = random() * inputs.jitterSeconds;
    pullImage(world, edge, redirects, host, startAt, (seconds) => {
      completions.push(seconds);
      end = Math.max(end, startAt + seconds);
    });
  }
  world.sim.run(MODEL_TIME_LIMIT_S);
  if (completions.length !== hostCount) throw new Error(`fleet model: ${hostCount - completions.length} hosts never finished`);
  completions.sort((a, b) => a - b);
  const utilization = busiest(world, end);
  const top = utilization[0];
  return {
    hosts: hostCount,
    policy: inputs.policy,
    completions,
    p50: quantile(completions, 0.5),
    p99: quantile(completions, 0.99),
    p999: quantile(completions, 0.999),
    max: completions[completions.length - 1]!,
    upstreamBytes: world.upstreamBytes,
    edgeBytes: world.edgeBytes,
    wan: world.sites.map((s) => ({ site: s.index, fromEdge: s.fromEdge, p2pIn: s.p2pIn, p2pOut: s.p2pOut })),
    peakStreams: Math.max(0, ...[...sidecars.values()].map((s) => s.peakStreams)),
    treeDepth: Math.max(0, ...[...sidecars.values()].flatMap((s) => [...s.depth.values()])),
    limit: top && top.busyFraction >= BUSY_LIMIT ? top.component : 'latency and fan-out depth',
    utilization,
  };
}

/** Each kind of component's busiest member, as a fraction of the pull's duration, busiest first. */
function busiest(world: World, end: number): FleetResult['utilization'] {
  const byKind = new Map<string, number>();
  for (const r of world.sim.resources) {
    const fraction = end > 0 ? r.busySeconds / end : 0;
    const name = COMPONENT[r.kind];
    byKind.set(name, Math.max(byKind.get(name) ?? 0, fraction));
  }
  return [...byKind].map(([component, busyFraction]) => ({ component, busyFraction })).sort((a, b) => b.busyFraction - a.busyFraction);
}

/** Nearest-rank quantile of sorted values. */
export function quantile(sorted: readonly number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

/** A big fleet's rates change every few ms; batching them keeps a run to seconds of CPU. */
function defaultWindow(hosts: number): number {
  return hosts <= 50 ? 0.0005 : 0.02;
}

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
