import type { Calibration } from './calibration.js';
import { POLICIES, type FleetResult, type Policy } from './inputs.js';
import { runFleet } from './run-fleet.js';
import { fleetInputs, FLEET_DEFAULTS, type FleetSpec } from './scenarios.js';

// Kraken's published setup run through the model, for every policy, with the DHT as the code has it
// (one swarm across sites) and with one swarm per site; and, per policy, the largest fleet whose p99
// stays under twice one host's pull.

const MB = 1e6;
export const KRAKEN = { hosts: 2600, layers: [1500 * MB, 1500 * MB], hostBytesPerSec: 300 * MB, p50: 10, p99: 18, p999: 22 };
export const COMPARISON_SITES = 4;
/** Fleet sizes tried for "the largest fleet", in order; the sweep stops at the first that fails. */
const SWEEP = [4, 16, 65, 260, 650, 1300, 2600];

export interface ComparisonRow {
  policy: Policy;
  dhtPerSite: boolean;
  result: Omit<FleetResult, 'completions'>;
  /** A few hundred points of the completion-time distribution, for the CDF. */
  cdf: number[];
}

export interface LargestFleet {
  policy: Policy;
  dhtPerSite: boolean;
  singleHostSeconds: number;
  /** The largest size tried whose p99 < 2 × one host's pull (0: none), and the run past it. */
  hosts: number;
  limit: string;
  failedAt?: { hosts: number; p99: number; limit: string };
}

export interface FleetComparison {
  spec: Omit<FleetSpec, 'policy'>;
  rows: ComparisonRow[];
  largest: LargestFleet[];
}

export function krakenSpec(): Omit<FleetSpec, 'policy'> {
  return { hosts: KRAKEN.hosts, sites: COMPARISON_SITES, layers: KRAKEN.layers, hostBytesPerSec: KRAKEN.hostBytesPerSec, wanBytesPerSec: FLEET_DEFAULTS.wanBytesPerSec, wanRttSeconds: FLEET_DEFAULTS.wanRttSeconds, jitterSeconds: FLEET_DEFAULTS.jitterSeconds };
}

export function compareWithKraken(cal: Calibration, log: (line: string) => void = () => undefined): FleetComparison {
  const spec = krakenSpec();
  const rows: ComparisonRow[] = [];
  const largest: LargestFleet[] = [];
  for (const policy of POLICIES) {
    for (const dhtPerSite of policy === 'off' || policy === 'rendezvous' ? [false] : [false, true]) {
      const { completions, ...result } = runFleet(fleetInputs(cal, { ...spec, policy, dhtPerSite }));
      rows.push({ policy, dhtPerSite, result, cdf: sample(completions, 200) });
      log(`fleet: ${spec.hosts} hosts, ${policy}${dhtPerSite ? ' (DHT per site)' : ''}: p50 ${result.p50.toFixed(1)} s, p99 ${result.p99.toFixed(1)} s, limit ${result.limit}`);
      largest.push(largestFleet(cal, { ...spec, policy, dhtPerSite }));
    }
  }
  return { spec, rows, largest };
}

function largestFleet(cal: Calibration, spec: FleetSpec): LargestFleet {
  const single = runFleet(fleetInputs(cal, { ...spec, hosts: 1, sites: 1, jitterSeconds: 0 })).max;
  let best: LargestFleet = { policy: spec.policy, dhtPerSite: spec.dhtPerSite ?? false, singleHostSeconds: single, hosts: 0, limit: '–' };
  for (const hosts of SWEEP) {
    const r = runFleet(fleetInputs(cal, { ...spec, hosts, sites: Math.min(spec.sites, hosts) }));
    if (r.p99 >= 2 * single) return { ...best, failedAt: { hosts, p99: r.p99, limit: r.limit } };
    best = { ...best, hosts, limit: r.limit };
  }
  return best;
}

/** `count` evenly spaced order statistics of sorted `values` (all of them when fewer). */
function sample(values: number[], count: number): number[] {
  if (values.length <= count) return values;
  return Array.from({ length: count }, (_, i) => values[Math.round((i / (count - 1)) * (values.length - 1))]!);
}
