import type { LanBurstFigures } from '../lan-burst.js';
import { median } from '../median.js';
import { POLICIES, type Policy } from './inputs.js';

// What the LAN bench's testbed costs in CPU, per number of hosts, from the CPU times the bursts
// measured (/proc, bench/lan-burst-cpu.ts). On one 2-core machine the bursts are CPU-bound, and a
// sidecar's cost per byte is not the single-stream figure: it rises with the sidecar processes
// sharing the cores. So the costs are fitted across all bursts and sidecars at once (never one
// burst's own total), with a load per host count, and the CPU other work took meanwhile.

const REDIRECTS: readonly string[] = ['rendezvous', 'spread', 'local'];

export interface TestbedCosts {
  hosts: number;
  measuredAt: string;
  /** Core seconds per byte at a sidecar: sending and receiving over P2P, serving HTTP (the edge's body received counts as served). */
  p2pSend: number;
  p2pReceive: number;
  httpServe: number;
  /**
   * Cores a sidecar uses over the burst whatever bytes it moves: while it takes part in the burst
   * (rises with the processes competing for the cores), and while it idles (DHT, heartbeats).
   */
  activeSidecarCores: number;
  idleSidecarCores: number;
  /** Core seconds per byte in the bench process for a client reading from a sidecar. */
  clientReceiveFromSidecar: number;
  /** Cores other work on the machine took during the bursts, median per policy. */
  otherCores: Partial<Record<Policy, number>>;
  /** Sidecar observations (sidecars × bursts, all host counts) behind the fit. */
  observations: number;
}

const NUMBERS = ['hosts', 'p2pSend', 'p2pReceive', 'httpServe', 'activeSidecarCores', 'idleSidecarCores', 'clientReceiveFromSidecar'] as const;

export function isTestbedCosts(value: unknown): value is TestbedCosts {
  const v = value as Partial<TestbedCosts> | undefined;
  return typeof v === 'object' && v !== null && NUMBERS.every((name) => Number.isFinite(v[name])) && typeof v.otherCores === 'object' && v.otherCores !== null;
}

/**
 * The costs of every host count the LAN bench ran with CPU figures; none for older runs. One fit over
 * every sidecar of every redirected burst: a byte costs the same code at any host count, so the
 * per-byte costs are shared; the load of taking part or idling is per host count (the competition
 * for the cores is what changes).
 */
export function testbedCosts(lan: LanBurstFigures, measuredAt: string): TestbedCosts[] {
  const counts = lan.byHosts
    .map((byHosts) => ({ byHosts, samples: byHosts.variants.filter((v) => REDIRECTS.includes(v.variant)).flatMap((v) => v.samples).filter((s) => s.cpu && s.sidecars) }))
    .filter((c) => c.samples.length > 0);
  const rows: number[][] = [];
  const cpu: number[] = [];
  counts.forEach(({ samples }, index) => {
    for (const sample of samples) {
      for (const w of sample.sidecars!) {
        const edgeIn = Math.max(0, w.fetches * lan.blobBytes - w.p2pBytesIn);
        const active = w.p2pBytesOut + w.p2pBytesIn + w.servedBytes + edgeIn > 0;
        const seconds = new Array<number>(2 * counts.length).fill(0);
        seconds[2 * index + (active ? 0 : 1)] = sample.seconds;
        rows.push([w.p2pBytesOut, w.p2pBytesIn, w.servedBytes + edgeIn, ...seconds]);
        cpu.push(w.cpuSeconds);
      }
    }
  });
  if (rows.length === 0) return [];
  const [p2pSend, p2pReceive, httpServe, ...loads] = nonNegativeLeastSquares(rows, cpu);
  return counts.map(({ byHosts, samples }, index) => {
    const otherCores: Partial<Record<Policy, number>> = {};
    for (const policy of POLICIES) {
      const measured = byHosts.variants.find((v) => v.variant === policy)?.samples.filter((s) => s.cpu) ?? [];
      if (measured.length) otherCores[policy] = median(measured.map((s) => s.cpu!.other / s.seconds));
    }
    return {
      hosts: byHosts.hosts,
      measuredAt,
      p2pSend: p2pSend!,
      p2pReceive: p2pReceive!,
      httpServe: httpServe!,
      activeSidecarCores: loads[2 * index]!,
      idleSidecarCores: loads[2 * index + 1]!,
      clientReceiveFromSidecar: median(samples.map((s) => s.cpu!.bench / (byHosts.hosts * lan.blobBytes))),
      otherCores,
      observations: rows.length,
    };
  });
}

/**
 * Least squares of `y ≈ X·b` with every coefficient ≥ 0: the best fit over the subsets of columns
 * whose unconstrained fit is non-negative (few columns, so all subsets are tried).
 */
export function nonNegativeLeastSquares(x: number[][], y: number[]): number[] {
  const columns = x[0]?.length ?? 0;
  let best: { b: number[]; error: number } = { b: new Array<number>(columns).fill(0), error: y.reduce((s, v) => s + v * v, 0) };
  for (let mask = 1; mask < 1 << columns; mask++) {
    const used = [...Array(columns).keys()].filter((c) => mask & (1 << c));
    const fit = leastSquares(
      x.map((row) => used.map((c) => row[c]!)),
      y,
    );
    if (!fit || fit.some((v) => v < 0)) continue;
    const b = new Array<number>(columns).fill(0);
    used.forEach((c, i) => (b[c] = fit[i]!));
    const error = x.reduce((s, row, r) => s + (row.reduce((p, v, c) => p + v * b[c]!, 0) - y[r]!) ** 2, 0);
    if (error < best.error) best = { b, error };
  }
  return best.b;
}

/** Ordinary least squares through the normal equations (columns scaled to 1 first); undefined when singular. */
function leastSquares(x: number[][], y: number[]): number[] | undefined {
  const n = x[0]!.length;
  const scale = [...Array(n).keys()].map((c) => Math.max(...x.map((row) => Math.abs(row[c]!))) || 1);
  const a = [...Array(n).keys()].map((i) => [...Array(n).keys()].map((j) => x.reduce((s, row) => s + (row[i]! / scale[i]!) * (row[j]! / scale[j]!), 0)));
  const v = [...Array(n).keys()].map((i) => x.reduce((s, row, r) => s + (row[i]! / scale[i]!) * y[r]!, 0));
  for (let col = 0; col < n; col++) {
    let pivot = col;
    for (let r = col + 1; r < n; r++) if (Math.abs(a[r]![col]!) > Math.abs(a[pivot]![col]!)) pivot = r;
    if (Math.abs(a[pivot]![col]!) < 1e-12) return undefined;
    [a[col], a[pivot]] = [a[pivot]!, a[col]!];
    [v[col], v[pivot]] = [v[pivot]!, v[col]!];
    for (let r = 0; r < n; r++) {
      if (r === col) continue;
      const f = a[r]![col]! / a[col]![col]!;
      for (let c = col; c < n; c++) a[r]![c]! -= f * a[col]![c]!;
      v[r]! -= f * v[col]!;
    }
  }
  return v.map((value, i) => value / a[i]![i]! / scale[i]!);
}
