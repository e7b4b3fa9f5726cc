import type { LanBurstFigures } from '../lan-burst.js';
import { median } from '../median.js';
import { POLICIES, type Policy } from './inputs.js';

// What the LAN bench's testbed costs in CPU, from the CPU times the bursts measured (/proc,
// bench/lan-burst-cpu.ts). On one 2-core machine the bursts are CPU-bound. A sidecar's CPU is a load
// while it runs, measured on the sidecars that move nothing, plus a cost per byte it moves, fitted
// over every sidecar that moved bytes in every burst at once (never one burst's own total). Both run
// the same code at any host count, so they carry from one host count to another; the clients' cost
// and the other work on the machine are taken per host count.

const REDIRECTS: readonly string[] = ['rendezvous', 'spread', 'local'];

export interface TestbedCosts {
  hosts: number;
  measuredAt: string;
  /** Core seconds per byte at a sidecar: sending and receiving over P2P, serving HTTP (the edge's body received counts as served). */
  p2pSend: number;
  p2pReceive: number;
  httpServe: number;
  /** Cores a running sidecar uses whatever it moves (DHT, heartbeats, timers): the median of the sidecars that moved nothing. */
  sidecarCores: number;
  /** Core seconds per byte in the bench process for a client reading from a sidecar (the host forwarders included), and from the edge. */
  clientReceiveFromSidecar: number;
  clientReceiveFromEdge?: number;
  /** Core seconds per byte of the blob the edge's thread spends on a burst besides serving: the fill from the upstream, and the sidecars' requests. */
  edgeFill?: number;
  /** Cores other work on the machine took during the bursts, median per policy. */
  otherCores: Partial<Record<Policy, number>>;
  /** Sidecars that moved bytes (sidecars × bursts, all host counts) behind the per-byte fit. */
  observations: number;
}

const NUMBERS = ['hosts', 'p2pSend', 'p2pReceive', 'httpServe', 'sidecarCores', 'clientReceiveFromSidecar'] as const;

export function isTestbedCosts(value: unknown): value is TestbedCosts {
  const v = value as Partial<TestbedCosts> | undefined;
  return typeof v === 'object' && v !== null && NUMBERS.every((name) => Number.isFinite(v[name])) && typeof v.otherCores === 'object' && v.otherCores !== null;
}

/** The edge's core seconds per byte served, and the first byte of one cold pull (s): from the calibration. */
export interface EdgeCosts {
  serve: number;
  coldFirstByteSeconds: number;
}

type Variant = LanBurstFigures['byHosts'][number]['variants'][number];
const withCpu = (variant: Variant | undefined) => variant?.samples.filter((s) => s.cpu) ?? [];

/**
 * The costs of every host count the LAN bench ran with CPU figures; none for older runs. A sidecar's
 * CPU seconds ≈ the burst's seconds at `sidecarCores`, plus its bytes sent, received and served each at
 * its cost per byte (non-negative least squares over every sidecar that moved bytes). In every
 * burst the edge fills the blob once: its CPU less the bytes it served and the cold first-byte wait,
 * through which its thread is busy too (the model counts that wait apart), is the fill's (median).
 */
export function testbedCosts(lan: LanBurstFigures, measuredAt: string, edge: EdgeCosts): TestbedCosts[] {
  const counts = lan.byHosts
    .map((byHosts) => ({ byHosts, samples: byHosts.variants.filter((v) => REDIRECTS.includes(v.variant)).flatMap(withCpu).filter((s) => s.sidecars) }))
    .filter((c) => c.samples.length > 0);
  const sidecars = counts.flatMap(({ samples }) =>
    samples.flatMap((sample) =>
      sample.sidecars!.map((w) => {
        const edgeIn = Math.max(0, w.fetches * lan.blobBytes - w.p2pBytesIn);
        return { cpuSeconds: w.cpuSeconds, seconds: sample.seconds, bytes: [w.p2pBytesOut, w.p2pBytesIn, w.servedBytes + edgeIn] };
      }),
    ),
  );
  const moves = (s: (typeof sidecars)[number]) => s.bytes.some((b) => b > 0);
  const moved = sidecars.filter(moves);
  if (moved.length === 0) return [];
  const still = sidecars.filter((s) => !moves(s));
  const sidecarCores = still.length ? median(still.map((s) => s.cpuSeconds / s.seconds)) : 0;
  const [p2pSend, p2pReceive, httpServe] = nonNegativeLeastSquares(
    moved.map((s) => s.bytes),
    moved.map((s) => s.cpuSeconds - sidecarCores * s.seconds),
  ) as [number, number, number];
  return counts.map(({ byHosts, samples }) => {
    const otherCores: Partial<Record<Policy, number>> = {};
    for (const policy of POLICIES) {
      const measured = withCpu(byHosts.variants.find((v) => v.variant === policy));
      if (measured.length) otherCores[policy] = median(measured.map((s) => s.cpu!.other / s.seconds));
    }
    const clientCost = (of: typeof samples) => median(of.map((s) => s.cpu!.bench / (byHosts.hosts * lan.blobBytes)));
    const off = withCpu(byHosts.variants.find((v) => v.variant === 'off'));
    const fills = [...off, ...samples].filter((s) => s.edgeServedBytes !== undefined);
    const edgeFill = fills.length ? median(fills.map((s) => (s.cpu!.edge - edge.coldFirstByteSeconds - s.edgeServedBytes! * edge.serve) / lan.blobBytes)) : 0;
    return {
      hosts: byHosts.hosts,
      measuredAt,
      p2pSend,
      p2pReceive,
      httpServe,
      sidecarCores,
      clientReceiveFromSidecar: clientCost(samples),
      ...(off.length ? { clientReceiveFromEdge: clientCost(off) } : {}),
      ...(edgeFill > 0 ? { edgeFill } : {}),
      otherCores,
      observations: moved.length,
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
