import { existsSync, readFileSync } from 'node:fs';
import { median } from '../median.js';
import type { SuiteSections } from '../report.js';
import { isTestbedCosts, testbedCosts, type EdgeCosts, type TestbedCosts } from './testbed-costs.js';

// The model's per-component rates and latencies, each taken from a bench section's figures.
// `npm run bench` writes them to bench/out/calibration.json; a section that did not run keeps the
// figure of the run that last measured it (each figure says when and where it was measured).

export interface Figure {
  value: number;
  /** When the run that measured it started. */
  measuredAt: string;
  /** The report figure it is. */
  source: string;
}

export const FIGURES = [
  'edgeServeMBps',
  'edgeFirstByteMs',
  'r2PutMBps',
  'upstreamMBps',
  'p2pSendMsPerMB',
  'p2pReceiveMsPerMB',
  'sidecarHttpMBps',
  'dhtProvideMs',
  'dhtFindFirstMs',
  'dhtQueryMs',
  'leaseMs',
  'lanBlobBytes',
  'lanColdMBps',
  'lanColdFirstByteMs',
  'lanClientMBps',
  'lanClientsMBps',
  'cores',
] as const;
export type FigureName = (typeof FIGURES)[number];
export type Calibration = Record<FigureName, Figure> & {
  /** The LAN testbed's CPU costs per host count (bench/fleet/testbed-costs.ts), when a run measured them. */
  testbed?: TestbedCosts[];
};

type Measured = Partial<Record<FigureName, [number, string]>> & { testbed?: (at: string, cal: Calibration) => TestbedCosts[] };

/** The figures `sections` measured (undefined where a section did not run). */
export function measuredFigures(sections: SuiteSections, cores: number): Measured {
  const out: Measured = { cores: [cores, 'cores of the machine'] };
  const edge = sections.edge.figures;
  if (edge) {
    out.edgeServeMBps = [edge.targets.fastreg.warmMedianMBps, 'edge: warm blob throughput (median)'];
    const warm = edge.targets.fastreg.warm.map((w) => w.firstByteSeconds).filter((s): s is number => s !== undefined);
    if (warm.length) out.edgeFirstByteMs = [median(warm) * 1000, 'edge: warm first byte (median)'];
    if (edge.r2Ceiling) out.r2PutMBps = [edge.r2Ceiling.medianMBps, 'edge: local R2 put ceiling (median)'];
    out.upstreamMBps = [edge.targets.direct.warmMedianMBps, 'edge: upstream served directly (median)'];
  }
  const p2p = sections.p2p.figures;
  if (p2p) {
    out.p2pSendMsPerMB = [p2p.sidecarP2pCpuMsPerMB.send, 'p2p: sender CPU per MB moved (median)'];
    out.p2pReceiveMsPerMB = [p2p.sidecarP2pCpuMsPerMB.receive, 'p2p: receiver CPU per MB moved and streamed on to its client (median)'];
    out.sidecarHttpMBps = [p2p.sidecarBridgeServeMBps, 'p2p: bridge serving a stored blob'];
    out.dhtProvideMs = [p2p.dht.provideMs.median, 'p2p: DHT provide (median)'];
    out.dhtFindFirstMs = [p2p.dht.findFirstProviderMs.median, 'p2p: DHT find first provider (median)'];
    out.dhtQueryMs = [p2p.dht.getMs.median, 'p2p: DHT get, a full query (median)'];
  }
  const leases = sections.leases.figures;
  if (leases) out.leaseMs = [leases.oneObjectSequential.latencyMs.p50, 'leases: acquire→release p50'];
  const lan = sections.lan.figures;
  if (lan) {
    const cold = lan.single.coldFastreg;
    out.lanBlobBytes = [lan.blobBytes, 'lan: burst blob size'];
    out.lanColdMBps = [lan.blobBytes / 1e6 / cold.medianSeconds, 'lan: one cold pull through the edge (median)'];
    const firsts = cold.samples.flatMap((s) => (s.firstBytes ? [s.firstBytes.first] : []));
    if (firsts.length) out.lanColdFirstByteMs = [median(firsts) * 1000, 'lan: first byte of one cold pull (median)'];
    out.lanClientMBps = [lan.blobBytes / 1e6 / lan.single.direct.medianSeconds, 'lan: one client direct from the upstream (median)'];
    const bursts = lan.byHosts.flatMap((h) => h.variants.filter((v) => v.variant === 'direct').map((v) => ({ hosts: h.hosts, seconds: v.medianSeconds })));
    const most = bursts.sort((a, b) => b.hosts - a.hosts)[0];
    if (most) out.lanClientsMBps = [(most.hosts * lan.blobBytes) / 1e6 / most.seconds, `lan: ${most.hosts} clients direct from the upstream at once (median)`];
    out.testbed = (at, cal) => testbedCosts(lan, at, edgeCosts(cal));
  }
  return out;
}

/** The edge's core seconds per byte served (one thread at its warm rate), and one cold pull's first byte. */
export const edgeCosts = (cal: Calibration): EdgeCosts => ({ serve: 1 / (cal.edgeServeMBps.value * 1e6), coldFirstByteSeconds: cal.lanColdFirstByteMs.value / 1000 });

/** This run's figures over `previous` (or the defaults). */
export function calibrate(measured: Measured, at: string, previous: Calibration = DEFAULT_CALIBRATION): Calibration {
  const out = { ...previous };
  for (const name of FIGURES) {
    const figure = measured[name];
    if (figure && Number.isFinite(figure[0]) && figure[0] > 0) out[name] = { value: figure[0], measuredAt: at, source: figure[1] };
  }
  const testbed = measured.testbed?.(at, out) ?? [];
  if (testbed.length) out.testbed = [...(previous.testbed ?? []).filter((t) => !testbed.some((n) => n.hosts === t.hosts)), ...testbed].sort((a, b) => a.hosts - b.hosts);
  return out;
}

/**
 * The calibration in `file`, else the defaults. A figure the file lacks (an older version wrote it)
 * is the default's. Throws on a file that is not one.
 */
export function readCalibration(file: string | undefined): Calibration {
  if (file === undefined || !existsSync(file)) return DEFAULT_CALIBRATION;
  const parsed = { ...DEFAULT_CALIBRATION, ...(JSON.parse(readFileSync(file, 'utf8')) as Partial<Calibration>) };
  for (const name of FIGURES) {
    const figure = parsed[name];
    if (typeof figure?.value !== 'number' || !(figure.value > 0)) throw new Error(`${file}: ${name} is not a positive number`);
  }
  if (parsed.testbed !== undefined && !Array.isArray(parsed.testbed)) throw new Error(`${file}: testbed is not a list`);
  // Entries another version of the fit wrote are left out: the validation then uses the single-stream figures.
  return { ...parsed, testbed: parsed.testbed?.filter(isTestbedCosts) } as Calibration;
}

/** Measured on this machine (2 cores) by the `npm run bench` runs of 2026-12-01 and (the P2P CPU figures) 2026-12-02: used when no calibration file exists. */
export const DEFAULT_CALIBRATION: Calibration = {
  edgeServeMBps: { value: 1181, measuredAt: '2026-12-01T22:56:57.274Z', source: 'edge: warm blob throughput (median)' },
  edgeFirstByteMs: { value: 5.393, measuredAt: '2026-12-01T22:56:57.274Z', source: 'edge: warm first byte (median)' },
  r2PutMBps: { value: 53.83, measuredAt: '2026-12-01T22:56:57.274Z', source: 'edge: local R2 put ceiling (median)' },
  upstreamMBps: { value: 1534, measuredAt: '2026-12-01T22:56:57.274Z', source: 'edge: upstream served directly (median)' },
  p2pSendMsPerMB: { value: 5.18, measuredAt: '2026-12-02T15:07:35.708Z', source: 'p2p: sender CPU per MB moved (median)' },
  p2pReceiveMsPerMB: { value: 8.27, measuredAt: '2026-12-02T15:07:35.708Z', source: 'p2p: receiver CPU per MB moved and streamed on to its client (median)' },
  sidecarHttpMBps: { value: 727, measuredAt: '2026-12-01T22:56:57.274Z', source: 'p2p: bridge serving a stored blob' },
  dhtProvideMs: { value: 379, measuredAt: '2026-12-01T22:56:57.274Z', source: 'p2p: DHT provide (median)' },
  dhtFindFirstMs: { value: 1, measuredAt: '2026-12-01T22:56:57.274Z', source: 'p2p: DHT find first provider (median)' },
  dhtQueryMs: { value: 320, measuredAt: '2026-12-01T22:56:57.274Z', source: 'p2p: DHT get, a full query (median)' },
  leaseMs: { value: 1, measuredAt: '2026-12-01T22:56:57.274Z', source: 'leases: acquire→release p50' },
  lanBlobBytes: { value: 200000000, measuredAt: '2026-12-01T22:56:57.274Z', source: 'lan: burst blob size' },
  lanColdMBps: { value: 53.97, measuredAt: '2026-12-01T22:56:57.274Z', source: 'lan: one cold pull through the edge (median)' },
  lanColdFirstByteMs: { value: 445.6, measuredAt: '2026-12-01T22:56:57.274Z', source: 'lan: first byte of one cold pull (median)' },
  lanClientMBps: { value: 198.2, measuredAt: '2026-12-01T22:56:57.274Z', source: 'lan: one client direct from the upstream (median)' },
  lanClientsMBps: { value: 366.5, measuredAt: '2026-12-01T22:56:57.274Z', source: 'lan: 10 clients direct from the upstream at once (median)' },
  cores: { value: 2, measuredAt: '2026-12-01T22:56:57.274Z', source: 'cores of the machine' },
};
