import type { EdgeBenchResult } from './edge-throughput.js';
import type { R2Ceiling } from './r2-ceiling.js';
import { fleetMarkdown, type FleetReport } from './fleet/fleet-report.js';
import { table } from './markdown.js';
import { lastDone, type Sample } from './curl.js';
import { median } from './median.js';
import type { BurstSample, LanBurstFigures, LanHostCountResult, LanVariant } from './lan-burst.js';
import type { LeaseBenchFigures } from './leases.js';
import type { P2pBenchFigures } from './p2p.js';
import type { ServicesFigures } from './services.js';

// The suite's report: one row per benchmark figure (FastReg against a baseline measured in the same
// run, as a ratio, with its target and a verdict), rendered as markdown, JSON and an SVG bar chart.

/** Upstream byte counts are optional so reports of older edge results still render. */
type Burst = NonNullable<EdgeBenchResult['burst']> & { fastregUpstreamBytes?: number; pullThroughUpstreamBytes?: number };

export type SectionName = 'edge' | 'leases' | 'services' | 'p2p' | 'lan';

export interface SectionOutcome<T> {
  status: 'ok' | 'failed' | 'timeout' | 'skipped';
  seconds: number;
  error?: string;
  figures?: T;
}

export interface SuiteSections {
  edge: SectionOutcome<EdgeBenchResult>;
  leases: SectionOutcome<LeaseBenchFigures>;
  services: SectionOutcome<ServicesFigures>;
  p2p: SectionOutcome<P2pBenchFigures>;
  lan: SectionOutcome<LanBurstFigures>;
}

export interface Environment {
  cores: number;
  cpuModel: string;
  node: string;
  platform: string;
  memoryGB: number;
  loadAverageAtStart: number[];
  date: string;
}

export type Verdict = 'pass' | 'fail' | 'not measured';

export interface FigureRow {
  figure: string;
  fastreg: string;
  baseline: string;
  /** FastReg ÷ baseline, when both were measured. */
  ratio: number | null;
  target: string;
  verdict: Verdict;
  /** How far from the target, 1 = exactly on it, > 1 = better (for the chart). */
  score: number | null;
  note?: string;
}

export interface SuiteReport {
  at: string;
  environment: Environment;
  options: Record<string, unknown>;
  seconds: number;
  figures: FigureRow[];
  sections: SuiteSections;
  /** The fleet model, calibrated from this run (absent when it could not run). */
  fleet?: FleetReport;
}

const NOT_MEASURED = (figure: string, target: string, note: string): FigureRow => ({ figure, fastreg: '–', baseline: '–', ratio: null, target, verdict: 'not measured', score: null, note });

const mbps = (n: number) => `${n.toFixed(0)} MB/s`;
const mb = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;
const ratioOf = (a: number, b: number) => (b > 0 ? a / b : null);

function row(figure: string, fastreg: string, baseline: string, ratio: number | null, target: string, pass: boolean, score: number | null, note?: string): FigureRow {
  return { figure, fastreg, baseline, ratio, target, verdict: pass ? 'pass' : 'fail', score, ...(note ? { note } : {}) };
}

function why(outcome: SectionOutcome<unknown>, name: string): string {
  return outcome.status === 'skipped' ? `${name} section not run (--only)` : `${name} section ${outcome.status}${outcome.error ? `: ${outcome.error.slice(0, 120)}` : ''}`;
}

/** Each interleaved cold pull over the piece put of its own round: the machine's drift between rounds cancels out. */
function pairedNote(interleaved: Sample[], ceiling: R2Ceiling): string {
  const puts = ceiling.samples.filter((sample) => sample.pieceBytes !== 0);
  if (interleaved.length === 0 || interleaved.length !== puts.length) return '';
  const ratios = interleaved.map((sample, round) => sample.mbPerSecond / puts[round]!.mbPerSecond);
  return `; each against its own round's piece put: ${ratios.map((r) => r.toFixed(2)).join(', ')} (median ${median(ratios).toFixed(2)})`;
}

/** Cold pull: against the local R2 put ceiling and, through a WAN-shaped upstream, against a direct pull; then the multi-GiB layer. */
function coldRows(edge: EdgeBenchResult): FigureRow[] {
  const { fastreg, direct } = edge.targets;
  const rows: FigureRow[] = [];
  const loopbackNote = `on loopback: ${fastreg.cold!.seconds.toFixed(2)} s cold vs ${median(direct.warm.map((s) => s.seconds)).toFixed(2)} s direct`;
  const ceiling = edge.r2Ceiling;
  const ratio = edge.ratios.coldFastregVsR2Ceiling;
  const cold = edge.coldRounds ?? { samples: [fastreg.cold!], medianMBps: fastreg.cold!.mbPerSecond };
  rows.push(
    ceiling && ratio !== undefined
      ? row(
          `Cold pull through the mirror (${mb(edge.blobBytes)}, median of ${cold.samples.length}) vs the local R2 put ceiling`,
          mbps(cold.medianMBps),
          `${mbps(ceiling.medianMBps)} (R2 put: one put ${mbps(ceiling.singlePutMBps)}, pieces ${mbps(ceiling.piecesMBps)})`,
          ratio,
          '≥ 0.9',
          ratio >= 0.9,
          ratio / 0.9,
          `cold samples ${cold.samples.map((s) => s.mbPerSecond.toFixed(0)).join(', ')} MB/s (the first GET, then one after each round of puts)${pairedNote(cold.samples.slice(1), ceiling)}; ${loopbackNote}`,
        )
      : NOT_MEASURED('Cold pull through the mirror vs the local R2 put ceiling', '≥ 0.9', 'this run did not measure the R2 ceiling'),
  );
  const wan = edge.wan;
  rows.push(
    wan
      ? row(
          `Cold pull through a WAN-shaped upstream (${wan.mbPerSecond} MB/s, +${wan.delayMs} ms): time vs a direct pull`,
          `${wan.fastregColdSeconds.toFixed(2)} s`,
          `${median(wan.directSeconds).toFixed(2)} s (direct through the same proxy)`,
          wan.coldTimeFastregVsDirect,
          '≤ 1.15',
          wan.coldTimeFastregVsDirect <= 1.15,
          1.15 / wan.coldTimeFastregVsDirect,
        )
      : NOT_MEASURED('Cold pull through a WAN-shaped upstream: time vs a direct pull', '≤ 1.15', 'WAN section skipped (--wan-mbps 0)'),
  );
  const big = edge.big;
  if (big) {
    rows.push(
      row(
        `Multi-GiB layer (${mb(big.blobBytes)}), cold burst of ${big.clients}: first bytes spread`,
        `${big.cold.firstByteSpreadSeconds.toFixed(2)} s`,
        `first client's first byte at ${big.cold.clients[0]!.firstByte.toFixed(2)} s`,
        null,
        '≤ 1 s',
        big.cold.firstByteSpreadSeconds <= 1,
        1 / Math.max(big.cold.firstByteSpreadSeconds, 0.01),
        `last client done at ${lastDone(big.cold).toFixed(1)} s; edge peak RSS ${big.edgePeakRssMB === null ? 'n/a' : `${big.edgePeakRssMB.toFixed(0)} MB`}`,
      ),
      row(
        `Multi-GiB layer: warm throughput vs the ${mb(edge.blobBytes)} blob's`,
        mbps(big.warm.mbPerSecond),
        `${mbps(fastreg.warmMedianMBps)} (warm ${mb(edge.blobBytes)})`,
        big.warmVsMainWarm,
        '≥ 0.5',
        big.warmVsMainWarm >= 0.5,
        big.warmVsMainWarm / 0.5,
      ),
    );
  } else {
    rows.push(NOT_MEASURED('Multi-GiB layer: cold burst and warm throughput', 'first bytes ≤ 1 s apart; warm ≥ 0.5×', '--big-mb 0'));
  }
  return rows;
}

/** Every client's first byte close to the first one's, and the last one done close to one cold pull. */
function burstTimingRows(burst: Burst): FigureRow[] {
  const times = burst.fastregTimes;
  if (!times || burst.oneColdPullSeconds === undefined) return [NOT_MEASURED('Cold burst: first-byte and done times', '≤ 0.3 s; ≤ 1.2×', 'this run did not time the clients')];
  const coldDone = lastDone(times);
  const doneRatio = coldDone / burst.oneColdPullSeconds;
  const warmFloor =
    burst.fastregWarmSeconds === undefined
      ? ''
      : `; the same burst warm (stored blob): ${burst.fastregWarmSeconds.toFixed(2)} s, ×${(burst.fastregWarmSeconds / burst.oneColdPullSeconds).toFixed(2)} one cold pull, the floor on this machine`;
  return [
    row(
      `Cold burst, ${burst.clients} clients: spread of first body bytes`,
      `${times.firstByteSpreadSeconds.toFixed(2)} s`,
      `first client's first byte at ${times.clients[0]!.firstByte.toFixed(2)} s`,
      null,
      '≤ 0.3 s',
      times.firstByteSpreadSeconds <= 0.3,
      0.3 / Math.max(times.firstByteSpreadSeconds, 0.01),
    ),
    row(
      `Cold burst, ${burst.clients} clients: last client done vs one cold pull`,
      `${coldDone.toFixed(2)} s`,
      `${burst.oneColdPullSeconds.toFixed(2)} s (one cold FastReg pull)`,
      doneRatio,
      '≤ 1.2',
      doneRatio <= 1.2,
      1.2 / doneRatio,
      `pull-through cache burst: ${burst.pullThroughSeconds.toFixed(2)} s${warmFloor}`,
    ),
  ];
}

/** The report's figures, in this order; every one is listed, measured or not (a section that did not run gives "not measured" rows). */
export function figureRows(sections: SuiteSections): FigureRow[] {
  return [...burstRows(sections), ...edgeRows(sections), ...p2pRows(sections), ...lanRows(sections), ...leaseRows(sections)];
}

/** The cold burst through the edge: upstream GETs and bytes, then its timing rows. */
function burstRows(sections: SuiteSections): FigureRow[] {
  const rows: FigureRow[] = [];
  const edge = sections.edge.figures;
  const burst = edge?.burst as Burst | undefined;
  if (burst) {
    rows.push(
      row(
        `Cold burst, ${burst.clients} concurrent GETs of one uncached ${mb(burst.blobBytes)} blob: upstream GETs`,
        String(burst.fastregUpstreamGets),
        `${burst.pullThroughUpstreamGets} (distribution pull-through cache)`,
        ratioOf(burst.fastregUpstreamGets, burst.pullThroughUpstreamGets),
        'FastReg = 1',
        burst.fastregUpstreamGets === 1,
        burst.fastregUpstreamGets > 0 ? 1 / burst.fastregUpstreamGets : 0,
      ),
    );
    if (burst.fastregUpstreamBytes !== undefined && burst.pullThroughUpstreamBytes !== undefined) {
      rows.push(
        row(
          `Cold burst, ${burst.clients} clients: upstream bytes`,
          mb(burst.fastregUpstreamBytes),
          `${mb(burst.pullThroughUpstreamBytes)} (pull-through cache)`,
          ratioOf(burst.fastregUpstreamBytes, burst.pullThroughUpstreamBytes),
          `FastReg ≤ 1 × blob (${mb(burst.blobBytes)})`,
          burst.fastregUpstreamBytes <= burst.blobBytes,
          burst.fastregUpstreamBytes > 0 ? burst.blobBytes / burst.fastregUpstreamBytes : 0,
        ),
      );
    } else {
      rows.push(NOT_MEASURED(`Cold burst: upstream bytes`, 'FastReg ≤ 1 × blob', 'this run did not count upstream bytes'));
    }
    rows.push(...burstTimingRows(burst));
  } else {
    rows.push(NOT_MEASURED('Cold burst, 50 concurrent GETs of one uncached blob: upstream GETs', 'FastReg = 1', edge ? 'burst skipped (--burst-clients 0)' : why(sections.edge, 'edge')));
  }
  return rows;
}

/** Warm and cold throughput through the edge. */
function edgeRows(sections: SuiteSections): FigureRow[] {
  const rows: FigureRow[] = [];
  const edge = sections.edge.figures;
  if (edge) {
    const { fastreg, pullThroughCache, direct } = edge.targets;
    rows.push(
      row(
        `Warm blob throughput through the edge (${mb(edge.blobBytes)}, median of ${fastreg.warm.length})`,
        mbps(fastreg.warmMedianMBps),
        `${mbps(pullThroughCache.warmMedianMBps)} (pull-through cache)`,
        edge.ratios.warmFastregVsPullThrough,
        '≥ 1',
        edge.ratios.warmFastregVsPullThrough >= 1,
        edge.ratios.warmFastregVsPullThrough,
      ),
      edge.rawTcp && edge.ratios.warmFastregVsRawTcp !== undefined
        ? row(
            'Warm blob throughput vs raw loopback TCP',
            mbps(fastreg.warmMedianMBps),
            `${mbps(edge.rawTcp.medianMBps)} (raw TCP, median of ${edge.rawTcp.samplesMBps.length})`,
            edge.ratios.warmFastregVsRawTcp,
            '≥ 0.5',
            edge.ratios.warmFastregVsRawTcp >= 0.5,
            edge.ratios.warmFastregVsRawTcp / 0.5,
            `upstream registry served directly: ${mbps(direct.warmMedianMBps)}`,
          )
        : NOT_MEASURED('Warm blob throughput vs raw loopback TCP', '≥ 0.5', 'this run did not measure raw TCP'),
      ...coldRows(edge),
    );
  } else {
    const note = why(sections.edge, 'edge');
    rows.push(NOT_MEASURED('Warm blob throughput through the edge', '≥ 1 × pull-through cache', note));
    rows.push(NOT_MEASURED('Warm blob throughput vs raw loopback TCP', '≥ 0.5', note));
    rows.push(NOT_MEASURED('Cold pull through the mirror vs the local R2 put ceiling', '≥ 0.9', note));
    rows.push(NOT_MEASURED('Cold pull through a WAN-shaped upstream: time vs a direct pull', '≤ 1.15', note));
  }
  return rows;
}

/** Sidecar-to-sidecar throughput and the sidecar's memory. */
function p2pRows(sections: SuiteSections): FigureRow[] {
  const rows: FigureRow[] = [];
  const p2p = sections.p2p.figures;
  if (p2p) {
    rows.push(
      row(
        `Sidecar-to-sidecar P2P throughput (median of ${p2p.rounds} × ${(p2p.roundBytes / 2 ** 20).toFixed(0)} MiB)`,
        mbps(p2p.sidecarP2pMBps),
        `${mbps(p2p.rawLibp2pMBps)} (raw noise+yamux)`,
        p2p.sidecarVsLibp2p,
        '≥ 0.8',
        p2p.sidecarVsLibp2p >= 0.8,
        p2p.sidecarVsLibp2p / 0.8,
      ),
    );
    const peak = Math.max(p2p.senderPeakRssMB, p2p.receiverPeakRssMB);
    rows.push(
      row(
        `Sidecar peak RSS moving ${(p2p.sizeBytes / 2 ** 30).toFixed(2)} GiB`,
        `${peak.toFixed(0)} MB`,
        `${p2p.idleRssBundleMB.toFixed(0)} MB (idle sidecar)`,
        ratioOf(peak, p2p.idleRssBundleMB),
        '< 150 MB',
        peak < 150,
        150 / peak,
        `sender ${p2p.senderPeakRssMB.toFixed(0)} MB, receiver ${p2p.receiverPeakRssMB.toFixed(0)} MB`,
      ),
    );
    const fan = p2p.fillFanOut;
    if (fan) {
      rows.push(
        row(
          `Sidecar peak RSS streaming a filling ${(fan.sizeBytes / 2 ** 30).toFixed(2)} GiB blob to ${fan.peers} peers and ${fan.clients} HTTP clients`,
          `${fan.rootPeakRssMB.toFixed(0)} MB`,
          `${fan.rootIdleRssMB.toFixed(0)} MB (the same sidecar before)`,
          ratioOf(fan.rootPeakRssMB, fan.rootIdleRssMB),
          '< 150 MB',
          fan.rootPeakRssMB < 150,
          150 / fan.rootPeakRssMB,
          `peers' peak ${fan.peerPeakRssMB.toFixed(0)} MB; all done in ${fan.seconds.toFixed(1)} s`,
        ),
      );
    }
  } else {
    const note = why(sections.p2p, 'p2p');
    rows.push(NOT_MEASURED('Sidecar-to-sidecar P2P throughput', '≥ 0.8 × raw noise+yamux', note));
    rows.push(NOT_MEASURED('Sidecar peak RSS moving 1 GiB', '< 150 MB', note));
  }
  return rows;
}

/** LAN bursts: one set of rows per host count. */
function lanRows(sections: SuiteSections): FigureRow[] {
  const rows: FigureRow[] = [];
  const lan = sections.lan.figures;
  if (lan && lan.byHosts.length > 0) for (const h of lan.byHosts) rows.push(...lanBurstRows(lan, h));
  else rows.push(NOT_MEASURED('Burst: N sidecars each needing the same 200 MB blob', 'upstream read once, time ≤ 1.3 × one pull', why(sections.lan, 'lan')));
  return rows;
}

/** The lease actor's rate and latency on one digest. */
function leaseRows(sections: SuiteSections): FigureRow[] {
  const rows: FigureRow[] = [];
  const leases = sections.leases.figures;
  if (leases) {
    // One caller shows the actor's own rate and latency; more callers add queueing (Little's law:
    // 8 in flight at ~1,000/s wait ~8 ms), so their p99 is shown beside it, not as the figure.
    const seq = leases.oneObjectSequential;
    const par = leases.oneObject;
    // Baseline: a bare RPC to the same kind of object that writes nothing (acquire on a stored blob).
    const rpc = leases.oneStoredObjectSequential;
    rows.push(
      row(
        `Lease actor on one digest: acquire→release pairs/s, 1 caller (median of ${leases.repeats})`,
        `${seq.opsPerSec.toFixed(0)}/s`,
        rpc ? `${rpc.opsPerSec.toFixed(0)}/s (read-only RPC, no write)` : '–',
        rpc ? ratioOf(seq.opsPerSec, rpc.opsPerSec) : null,
        '≥ 1,000/s',
        seq.opsPerSec >= 1_000,
        seq.opsPerSec / 1_000,
        `${seq.rpcsPerSec.toFixed(0)} RPCs/s; ${par.concurrency} callers: ${par.opsPerSec.toFixed(0)}/s`,
      ),
      row(
        'Lease actor on one digest: p99 of an acquire→release pair, 1 caller',
        `${seq.latencyMs.p99} ms`,
        rpc ? `${rpc.latencyMs.p99} ms (read-only RPC)` : '–',
        rpc ? ratioOf(seq.latencyMs.p99, rpc.latencyMs.p99) : null,
        '< 5 ms',
        seq.latencyMs.p99 < 5,
        seq.latencyMs.p99 > 0 ? 5 / seq.latencyMs.p99 : null,
        `p50 ${seq.latencyMs.p50} ms; ${par.concurrency} callers: p99 ${par.latencyMs.p99} ms (queueing); clock step ${leases.clockResolutionMs} ms`,
      ),
    );
  } else {
    const note = why(sections.leases, 'leases');
    rows.push(NOT_MEASURED('Lease actor on one digest: acquire/complete per second', '≥ 1,000/s', note));
    rows.push(NOT_MEASURED('Lease actor on one digest: p99', '< 5 ms', note));
  }
  return rows;
}

const POLICY_VARIANTS: readonly LanVariant[] = ['rendezvous', 'spread', 'local'];
const gets = (samples: BurstSample[]) => {
  const values = samples.map((s) => s.upstreamGets);
  const [lo, hi] = [Math.min(...values), Math.max(...values)];
  return lo === hi ? String(lo) : `${lo}–${hi}`;
};

/**
 * The report's burst figure for one host count, for the winning policy (else the fastest policy):
 * upstream GETs, and total time against one cold pull of the same blob through FastReg (the pull
 * one sidecar host would make alone; a direct pull is shown beside it).
 */
function lanBurstRows(lan: LanBurstFigures, h: LanHostCountResult): FigureRow[] {
  const policies = h.variants.filter((v) => POLICY_VARIANTS.includes(v.variant));
  const shown = policies.find((v) => v.variant === h.winner) ?? [...policies].sort((a, b) => a.medianSeconds - b.medianSeconds)[0];
  const cache = h.variants.find((v) => v.variant === 'pull-through');
  if (!shown) return [NOT_MEASURED(`Burst: ${h.hosts} sidecars each needing the same blob`, 'upstream read once, time ≤ 1.3 × one pull', 'no policy measured')];
  const maxGets = Math.max(...shown.samples.map((s) => s.upstreamGets));
  const single = lan.single.coldFastreg.medianSeconds;
  const ratio = shown.medianSeconds / single;
  const label = `Burst: ${h.hosts} sidecars each needing the same ${mb(lan.blobBytes)} blob, FastReg ${shown.variant}${h.winner ? ' (winner)' : ''}`;
  return [
    row(
      `${label}: upstream GETs (every repeat)`,
      gets(shown.samples),
      cache ? `${gets(cache.samples)} (pull-through cache)` : '–',
      cache ? ratioOf(maxGets, median(cache.samples.map((s) => s.upstreamGets))) : null,
      '= 1',
      maxGets === 1 && shown.samples.every((s) => s.upstreamGets === 1 && !s.failedClients),
      maxGets > 0 ? 1 / maxGets : 0,
    ),
    row(
      `${label}: total time vs one cold FastReg pull`,
      `${shown.medianSeconds.toFixed(2)} s`,
      `${single.toFixed(2)} s (one cold pull through FastReg)`,
      ratio,
      `≤ ${LAN_TIME_TARGET}`,
      ratio <= LAN_TIME_TARGET,
      LAN_TIME_TARGET / ratio,
      `vs one direct pull (${lan.single.direct.medianSeconds.toFixed(2)} s): ×${fmtRatio(shown.medianSeconds / lan.single.direct.medianSeconds)}; median of ${h.repeats}`,
    ),
    ...lanExtraRows(label, lan.blobBytes, shown.samples),
  ];
}

/** Issue 11: a LAN burst takes at most this many times one cold pull. */
const LAN_TIME_TARGET = 1.3;
/** Issue 11: every client's first byte within this many seconds of the first one's. */
const FIRST_BYTE_SPREAD_TARGET_S = 1;

/** Edge bytes (the WAN) per blob and the first-byte spread, when the samples carry them. */
function lanExtraRows(label: string, blobBytes: number, samples: BurstSample[]): FigureRow[] {
  const rows: FigureRow[] = [];
  if (samples.every((s) => s.edgeServedBytes !== undefined)) {
    const times = median(samples.map((s) => (s.edgeServedBytes ?? 0) / blobBytes));
    rows.push(row(`${label}: edge bytes served to the site`, `${times.toFixed(2)} × blob`, '1 × blob', times, '= 1 × blob', Math.round(times * 100) === 100, times > 0 ? 1 / times : 0));
  }
  if (samples.every((s) => s.firstBytes !== undefined)) {
    const spread = median(samples.map((s) => (s.firstBytes?.last ?? 0) - (s.firstBytes?.first ?? 0)));
    const first = median(samples.map((s) => s.firstBytes?.first ?? 0));
    rows.push(
      row(
        `${label}: spread of the clients' first bytes`,
        `${spread.toFixed(2)} s`,
        `first client's first byte at ${first.toFixed(2)} s`,
        null,
        `≤ ${FIRST_BYTE_SPREAD_TARGET_S} s`,
        spread <= FIRST_BYTE_SPREAD_TARGET_S,
        spread > 0 ? FIRST_BYTE_SPREAD_TARGET_S / spread : 2,
      ),
    );
  }
  return rows;
}

const VARIANT_LABELS: Record<LanVariant, string> = {
  rendezvous: 'FastReg, rendezvous',
  spread: 'FastReg, spread',
  local: 'FastReg, local',
  off: 'FastReg, off (every client at the edge)',
  'pull-through': 'distribution pull-through cache',
  direct: 'direct from the upstream',
};

/** The LAN burst section: one table per host count, the baselines, the winner and how it was run. */
export function lanMarkdown(lan: LanBurstFigures): string {
  const single = lan.single;
  const out: string[] = [
    `## LAN burst (${mb(lan.blobBytes)} blob, every configuration cold)`,
    '',
    `Single-pull baselines (median of ${single.direct.samples.length}): one client direct from the upstream ${single.direct.medianSeconds.toFixed(2)} s; ` +
      `one client cold through FastReg (policy off) ${single.coldFastreg.medianSeconds.toFixed(2)} s.`,
  ];
  for (const h of lan.byHosts) {
    out.push('', `### ${h.hosts} hosts (a sidecar and a client each), median of ${h.repeats}${h.reduced ? ` (reduced: ${h.reduced})` : ''}`, '');
    out.push(
      table(
        ['variant', 'total time (s, median)', '× single direct', '× single cold FastReg', 'upstream GETs', 'upstream MB (median)', 'edge served MB (median)', 'first bytes (s, first–last, median)', 'failed clients', 'samples (s)'],
        h.variants.map((v) => [
          VARIANT_LABELS[v.variant] + (v.variant === h.winner ? ' **(winner)**' : ''),
          v.medianSeconds.toFixed(2),
          fmtRatio(v.medianSeconds / single.direct.medianSeconds),
          fmtRatio(v.medianSeconds / single.coldFastreg.medianSeconds),
          gets(v.samples),
          (median(v.samples.map((s) => s.upstreamBytes)) / 1e6).toFixed(0),
          v.samples[0]?.edgeServedBytes === undefined ? '–' : (median(v.samples.map((s) => s.edgeServedBytes ?? 0)) / 1e6).toFixed(0),
          v.samples.every((s) => s.firstBytes)
            ? `${median(v.samples.map((s) => s.firstBytes?.first ?? 0)).toFixed(1)}–${median(v.samples.map((s) => s.firstBytes?.last ?? 0)).toFixed(1)}`
            : '–',
          v.samples.reduce((sum, s) => sum + (s.failedClients ?? 0), 0),
          v.samples.map((s) => s.seconds.toFixed(1)).join(' '),
        ]),
      ),
    );
    for (const v of h.variants) {
      const failed = v.samples.find((s) => s.firstError);
      if (failed) out.push('', `${VARIANT_LABELS[v.variant]}: clients failed; first error: \`${failed.firstError}\``);
    }
    const target = h.variants.find((v) => v.variant === h.winner);
    const ok = target ? target.medianSeconds <= LAN_TIME_TARGET * single.coldFastreg.medianSeconds : false;
    out.push(
      '',
      `Target (upstream read once, total time ≤ ${LAN_TIME_TARGET} × a single pull): ${target ? `${h.winner} reads the upstream once and takes ×${fmtRatio(target.medianSeconds / single.coldFastreg.medianSeconds)} a single cold FastReg pull: ${ok ? '✅ pass' : '❌ fail'}` : '❌ fail: no policy read the upstream once in every repeat'}.`,
    );
  }
  out.push(
    '',
    `**Winning policy: ${lan.winner ?? 'none'}** (the fastest redirect policy that read the upstream exactly once in every repeat, at ${lan.byHosts[lan.byHosts.length - 1]?.hosts ?? '–'} hosts).`,
    '',
    'How it runs: host k is 127.0.0.(k+2); its sidecar (the esbuild bundle) listens on that address, reaches the edge through a forwarder bound to it (so the edge sees the host\'s address) and bootstraps from the first sidecar; ' +
      'its client is bound to it too. `SITES={"lan":["127.0.0.0/8"]}` makes all hosts one site, so the policy decides. Each configuration has a fresh upstream registry, edge state and sidecar stores. ' +
      'Total time runs from the moment all clients start until the last one has the whole blob; every client\'s sha256 is checked. Upstream GETs and MB are the upstream\'s own access log (2xx GETs of the blob, `http.response.written`). ' +
      '"Edge served" is the edge\'s `fastreg_edge_served_bytes_total`: what would cross the WAN to the site. With `off` no sidecars are started (nothing would be redirected to them).',
    '',
    '`local` on one machine: the edge redirects to `http://127.0.0.1:LOCAL_SIDECAR_PORT`; every sidecar binds its own host address on that same port, and the client on 127.0.0.k follows such a Location to 127.0.0.k, its own host\'s sidecar, which is what 127.0.0.1 means on a real host.',
    '',
    `Known limit: a cold fill through the local edge runs at the pace of Miniflare's local R2 write on one workerd thread (the single cold pull above: ${(lan.blobBytes / 1e6 / single.coldFastreg.medianSeconds).toFixed(0)} MB/s), so every FastReg figure here carries a cold edge fill of several seconds; on Cloudflare that step is not the bottleneck.`,
  );
  return out.join('\n');
}

const fmtRatio = (r: number | null) => (r === null ? '–' : r >= 100 ? r.toFixed(0) : r.toFixed(2));
const mark = (v: Verdict) => (v === 'pass' ? '✅ pass' : v === 'fail' ? '❌ fail' : '– not measured');

export function mainTable(rows: FigureRow[]): string {
  return table(
    ['figure', 'FastReg', 'baseline (same run)', 'ratio', 'target', 'result', 'note'],
    rows.map((r) => [r.figure, r.fastreg, r.baseline, fmtRatio(r.ratio), r.target, mark(r.verdict), r.note ?? '']),
  );
}

export function renderMarkdown(report: SuiteReport): string {
  const out = [headerMarkdown(report)];
  const { edge, leases, services, p2p, lan } = report.sections;
  if (edge.figures) out.push('', edgeMarkdown(edge.figures));
  if (leases.figures) out.push('', leaseMarkdown(leases.figures));
  if (services.figures) out.push('', servicesMarkdown(services.figures));
  if (p2p.figures) out.push('', p2pMarkdown(p2p.figures));
  if (lan.figures) out.push('', lanMarkdown(lan.figures));
  if (report.fleet) out.push('', fleetMarkdown(report.fleet));
  out.push('', `Raw figures: report.json. Options: \`${JSON.stringify(report.options)}\`.`, '');
  return out.join('\n');
}

/** Title, machine, the figures table and each section's status. */
function headerMarkdown(report: SuiteReport): string {
  const env = report.environment;
  return [
    '# FastReg benchmark report',
    '',
    `${env.date} · ${env.cores} cores (${env.cpuModel}) · ${env.memoryGB.toFixed(0)} GB · Node ${env.node} · ${env.platform} · load at start ${env.loadAverageAtStart.map((n) => n.toFixed(2)).join(' ')} · suite ${report.seconds.toFixed(0)} s`,
    '',
    'Every ratio is FastReg against a peer measured on the same machine in the same run (loopback). MB = 10^6 bytes.',
    '',
    mainTable(report.figures),
    '',
    '![ratios against targets](report.svg)',
    '',
    '## Sections',
    '',
    table(
      ['section', 'status', 'time'],
      (Object.entries(report.sections) as Array<[SectionName, SectionOutcome<unknown>]>).map(([name, s]) => [name, s.status + (s.error ? `: ${s.error.slice(0, 200)}` : ''), `${s.seconds.toFixed(0)} s`]),
    ),
  ].join('\n');
}

function edgeMarkdown(r: EdgeBenchResult): string {
  const t = (x: EdgeBenchResult['targets']['fastreg']) => [x.cold ? x.cold.mbPerSecond.toFixed(0) : '–', x.warmMedianMBps.toFixed(0), x.warm.map((s) => s.mbPerSecond.toFixed(0)).join(' ')];
  const out = [`## Edge throughput (${mb(r.blobBytes)} blob)`, ''];
  out.push(
    table(
      ['path', 'cold MB/s', 'warm MB/s (median)', 'warm samples'],
      [
        ['FastReg edge (Miniflare)', ...t(r.targets.fastreg)],
        ['distribution pull-through cache', ...t(r.targets.pullThroughCache)],
        ['upstream direct', ...t(r.targets.direct)],
      ],
    ),
  );
  if (r.burst) out.push('', burstMarkdown(r.burst as Burst));
  if (r.rawTcp) out.push('', `Raw loopback TCP, same run, same bytes (one connection): ${r.rawTcp.medianMBps.toFixed(0)} MB/s median (${r.rawTcp.samplesMBps.join(' ')}).`);
  out.push('', `Edge peak RSS (workerd VmHWM): ${r.edgePeakRssMB === null ? 'n/a' : `${r.edgePeakRssMB.toFixed(0)} MB`}.`);
  return out.join('\n');
}

function burstMarkdown(b: Burst): string {
  return [
    `Cold burst: ${b.clients} concurrent GETs of one uncached ${mb(b.blobBytes)} blob.`,
    '',
    table(
      ['mirror', 'upstream GETs', 'upstream bytes', 'wall time'],
      [
        ['FastReg', b.fastregUpstreamGets, b.fastregUpstreamBytes === undefined ? '–' : mb(b.fastregUpstreamBytes), `${b.fastregSeconds.toFixed(2)} s`],
        ['distribution pull-through cache', b.pullThroughUpstreamGets, b.pullThroughUpstreamBytes === undefined ? '–' : mb(b.pullThroughUpstreamBytes), `${b.pullThroughSeconds.toFixed(2)} s`],
      ],
    ),
    '',
    'Upstream bytes are the upstream registry\'s own count (`http.response.written` of its access log) for GETs of the burst blob.',
  ].join('\n');
}

function leaseMarkdown(l: LeaseBenchFigures): string {
  return [
    '## Lease actor (BlobLease Durable Object)',
    '',
    'Timed inside workerd by a bench-only Worker bound to the edge\'s BlobLease class (Worker→DO RPC), so Node→Miniflare overhead is not in these figures. ' +
      `An op is acquire plus the call that ends the lease (release or complete); medians of ${l.repeats} runs. workerd's clock advances in ${l.clockResolutionMs} ms steps, so latencies are quantised.`,
    '',
    table(
      ['phase', 'keys', 'callers', 'ops/s', 'RPCs/s', 'op p50 ms', 'op p99 ms', 'acquire p99 ms', 'unexpected / errors'],
      [l.oneObject, l.oneObjectSequential, ...(l.oneStoredObjectSequential ? [l.oneStoredObjectSequential] : []), l.freshKeysComplete, l.manyKeysComplete, l.manyKeysStoredAcquire].map((p) => [
        `${p.label} (${p.mode === 'cycle' ? 'acquire→release' : p.mode === 'complete' ? 'acquire→complete' : 'acquire, stored'})`,
        p.keys,
        p.concurrency,
        p.opsPerSec.toFixed(0),
        p.rpcsPerSec.toFixed(0),
        p.latencyMs.p50,
        p.latencyMs.p99,
        p.acquireMs.p99,
        `${p.unexpected} / ${p.errors}`,
      ]),
    ),
    '',
    `HTTP batch API from Node (LeaseShard objects, for comparison): one key per request, can-offload then register: ${l.http.perKey.opsPerSec.toFixed(0)} keys/s, ` +
      `p50 ${l.http.perKey.latencyMs.p50} ms, p99 ${l.http.perKey.latencyMs.p99} ms (${l.http.perKey.ops} keys); one batch of ${l.http.batch.keys} keys: can-offload ${l.http.batch.canOffloadMs} ms, register ${l.http.batch.registerMs} ms = ${l.http.batch.keysPerSec.toFixed(0)} keys/s.`,
  ].join('\n');
}

function servicesMarkdown(s: ServicesFigures): string {
  return [
    `## Service records (${s.records.toLocaleString('en')} records in one resource, ${s.concurrency} concurrent clients over HTTP)`,
    '',
    table(
      ['add/s', 'get/s', 'search/s', 'mean hits/search', 'watch latency p50 / p99 / max (ms)', 'watch samples'],
      [[s.addOpsPerSec, s.getOpsPerSec, s.searchOpsPerSec, s.searchMeanHits, `${s.watchLatencyMs.p50} / ${s.watchLatencyMs.p99} / ${s.watchLatencyMs.max}`, s.watchLatencyMs.samples]],
    ),
  ].join('\n');
}

function p2pMarkdown(p: P2pBenchFigures): string {
  return [
    '## P2P (sidecar to sidecar on loopback)',
    '',
    table(
      ['figure', 'value'],
      [
        ['raw TCP / raw noise+yamux / sidecar P2P (median MB/s)', `${p.rawTcpMBps} / ${p.rawLibp2pMBps} / ${p.sidecarP2pMBps}`],
        ['per round (MB/s)', `TCP ${p.perRound.rawTcpMBps.join(' ')}; noise+yamux ${p.perRound.rawLibp2pMBps.join(' ')}; sidecar ${p.perRound.sidecarP2pMBps.join(' ')}`],
        ['sidecar / noise+yamux, sidecar / TCP', `${p.sidecarVsLibp2p} , ${p.sidecarVsTcp}`],
        ['sidecar CPU per MB moved: sender / receiver streaming it on (ms, median)', `${p.sidecarP2pCpuMsPerMB.send} / ${p.sidecarP2pCpuMsPerMB.receive}`],
        [`big blob (${(p.sizeBytes / 2 ** 20).toFixed(0)} MiB) P2P / bridge serve`, `${p.bigBlobP2pMBps} / ${p.sidecarBridgeServeMBps} MB/s`],
        ['peak RSS sender / receiver; idle (tsx / bundle)', `${p.senderPeakRssMB} / ${p.receiverPeakRssMB} MB; ${p.idleRssTsxMB} / ${p.idleRssBundleMB} MB`],
        ...(p.fillFanOut
          ? [[`filling ${(p.fillFanOut.sizeBytes / 2 ** 20).toFixed(0)} MiB read by ${p.fillFanOut.peers} peers + ${p.fillFanOut.clients} HTTP clients: root peak RSS (idle) / peers' peak / time`, `${p.fillFanOut.rootPeakRssMB} (${p.fillFanOut.rootIdleRssMB}) / ${p.fillFanOut.peerPeakRssMB} MB / ${p.fillFanOut.seconds} s`]]
          : []),
        [`DHT (${p.dht.nodes} in-process nodes) provide / find first / put / get, median ms`, `${p.dht.provideMs.median} / ${p.dht.findFirstProviderMs.median} / ${p.dht.putMs.median} / ${p.dht.getMs.median}`],
      ],
    ),
  ].join('\n');
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** Horizontal bars of each figure's score (1 = exactly on target, right of the line = better). */
export function renderSvg(rows: FigureRow[], title: string): string {
  const label = 430;
  const plot = 420;
  const rowH = 26;
  const top = 48;
  const maxScore = 3;
  const width = label + plot + 170;
  const height = top + rows.length * rowH + 40;
  const x = (score: number) => label + (Math.min(score, maxScore) / maxScore) * plot;
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    `<text x="10" y="20" font-size="14" font-weight="bold">${esc(title)}</text>`,
    `<text x="10" y="38" fill="#555">bar = measured ÷ target (inverted where lower is better); the line at 1 is the target; capped at ${maxScore}</text>`,
  ];
  rows.forEach((r, i) => {
    const y = top + i * rowH;
    const name = r.figure.length > 68 ? `${r.figure.slice(0, 66)}…` : r.figure;
    parts.push(`<text x="${label - 8}" y="${y + 16}" text-anchor="end">${esc(name)}</text>`);
    if (r.score === null) {
      parts.push(`<text x="${label + 6}" y="${y + 16}" fill="#888">not measured</text>`);
      return;
    }
    const color = r.verdict === 'pass' ? '#2e9d4f' : '#d04437';
    parts.push(`<rect x="${label}" y="${y + 4}" width="${Math.max(1, x(r.score) - label).toFixed(1)}" height="${rowH - 8}" fill="${color}"/>`);
    // A bare-number target is a ratio target: show the ratio it is judged on.
    const shown = /^[≥≤<] ?[\d.]+$/.test(r.target) && r.ratio !== null ? `${r.fastreg}, ratio ${fmtRatio(r.ratio)}` : r.fastreg;
    parts.push(`<text x="${x(r.score) + 6}" y="${y + 16}">${esc(`${shown} (target ${r.target})`)}</text>`);
  });
  const one = x(1);
  parts.push(`<line x1="${one}" y1="${top - 4}" x2="${one}" y2="${top + rows.length * rowH + 4}" stroke="#000" stroke-dasharray="4 3"/>`);
  parts.push(`<text x="${one}" y="${top + rows.length * rowH + 20}" text-anchor="middle">target</text>`);
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}
