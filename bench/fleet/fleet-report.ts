import type { LanBurstFigures } from '../lan-burst.js';
import { table } from '../markdown.js';
import { FIGURES, type Calibration } from './calibration.js';
import { cdfSvg } from './cdf-svg.js';
import { compareWithKraken, KRAKEN, type ComparisonRow, type FleetComparison } from './comparison.js';
import { POLICIES, type Policy } from './inputs.js';
import type { TestbedCosts } from './testbed-costs.js';
import { validate, validateHeldOut, VALIDATION_TOLERANCE, type ValidationRow } from './validation.js';

// The bench report's "Fleet model" section: the model checked against this run's LAN bursts, then
// Kraken's published setup, the largest fleet per policy, and a CDF per policy.

export interface FleetReport {
  calibration: Calibration;
  validation: ValidationRow[];
  /** Each host count predicted with costs fitted on the other host counts' bursts only. */
  heldOut: ValidationRow[];
  comparison: FleetComparison;
}

export function fleetReport(calibration: Calibration, lan: LanBurstFigures | undefined, log?: (line: string) => void): FleetReport {
  const validation = lan ? validate(calibration, lan) : [];
  const heldOut = lan ? validateHeldOut(calibration, lan) : [];
  for (const [name, rows] of [['validation', validation], ['held out', heldOut]] as const) {
    for (const r of rows) log?.(`${name}: ${r.hosts} hosts, ${r.policy}: predicted ${r.predictedSeconds.toFixed(2)} s, measured ${r.measuredSeconds.toFixed(2)} s, ratio ${r.ratio.toFixed(2)} (${r.limit})`);
  }
  return { calibration, validation, heldOut, comparison: compareWithKraken(calibration, log) };
}

export const cdfFile = (policy: Policy) => `fleet-cdf-${policy}.svg`;

/** One SVG per policy: its variants' completion-time CDFs in Kraken's setup. */
export function fleetCdfs(report: FleetReport): Array<{ file: string; svg: string }> {
  return POLICIES.map((policy) => ({
    file: cdfFile(policy),
    svg: cdfSvg(
      `${policy}: ${KRAKEN.hosts.toLocaleString('en')} hosts, 3 GB in 2 layers (model)`,
      report.comparison.rows.filter((r) => r.policy === policy).map((r) => ({ label: variantName(r), seconds: r.cdf })),
    ),
  }));
}

export function fleetMarkdown(report: FleetReport): string {
  return [
    '## Fleet model',
    '',
    'A discrete-event model of one image pull across a fleet (`bench/fleet/`, README "Fleet model"), with the per-component rates of `bench/out/calibration.json`: this run\'s figures, and for sections that did not run, those of the run that last measured them.',
    '',
    calibrationMarkdown(report.calibration),
    '',
    validationMarkdown(report.validation),
    '',
    heldOutMarkdown(report.heldOut),
    '',
    comparisonMarkdown(report.comparison),
    '',
    largestMarkdown(report.comparison),
    '',
    POLICIES.map((p) => `![${p}](${cdfFile(p)})`).join(' '),
  ].join('\n');
}

function calibrationMarkdown(cal: Calibration): string {
  const rows = FIGURES.map((name) => [name, cal[name]] as const).map(([name, f]) => `${name} ${Number(f.value.toPrecision(4))} (${f.source}, ${f.measuredAt.slice(0, 10)})`);
  return [`Calibration: ${rows.join('; ')}.`, '', testbedMarkdown(cal.testbed ?? [])].join('\n');
}

function testbedMarkdown(costs: TestbedCosts[]): string {
  if (costs.length === 0) return 'Testbed CPU costs: not measured (a run before the LAN bench recorded CPU times); the testbed is modelled with the single-stream figures above.';
  const perMB = (secondsPerByte: number) => (secondsPerByte * 1e6 * 1000).toFixed(2);
  return [
    "Testbed CPU costs, from the CPU time of every process over each burst (/proc) and each sidecar's bytes moved: the cores a running sidecar uses whatever it moves (median of the sidecars that moved nothing), and core milliseconds per MB at a sidecar, sending and receiving over P2P and serving HTTP, in one fit over every sidecar that moved bytes in every burst (never one burst alone); both the same at every host count. Per host count: what a client reading from a sidecar (the host forwarders included) or from the edge costs the bench process per byte, what the edge's thread spends on a burst besides serving and the cold first-byte wait (its fill and the sidecars' requests) per byte of the blob, and the cores other work on the machine took during the bursts (medians).",
    '',
    table(
      ['hosts', 'P2P send (ms/MB)', 'P2P receive (ms/MB)', 'HTTP serve (ms/MB)', 'per sidecar (cores)', 'client from sidecar / edge (ms/MB)', 'edge fill (ms/MB)', 'other work (cores)', 'sidecars that moved bytes (all host counts)', 'measured'],
      costs.map((c) => [
        c.hosts,
        perMB(c.p2pSend),
        perMB(c.p2pReceive),
        perMB(c.httpServe),
        c.sidecarCores.toFixed(3),
        `${perMB(c.clientReceiveFromSidecar)} / ${c.clientReceiveFromEdge === undefined ? '–' : perMB(c.clientReceiveFromEdge)}`,
        c.edgeFill === undefined ? '–' : perMB(c.edgeFill),
        POLICIES.filter((p) => c.otherCores[p] !== undefined).map((p) => `${p} ${c.otherCores[p]!.toFixed(2)}`).join(', '),
        c.observations,
        c.measuredAt.slice(0, 16),
      ]),
    ),
  ].join('\n');
}

function validationMarkdown(rows: ValidationRow[]): string {
  if (rows.length === 0) return 'Validation: the LAN section did not run, so there is nothing to check the model against.';
  return [
    `### Validation: the LAN bursts of this run, predicted vs measured (target: within ±${VALIDATION_TOLERANCE * 100}%)`,
    '',
    'The testbed is one 2-core machine: every simulated host, the edge and the clients share its cores, the edge is one workerd thread and every client runs in the bench process. The model puts those shared parts in (they do not exist in a real fleet) with the testbed CPU costs above, fitted across all bursts, so each row checks the event model (which bytes cross which hop, the fan-out tree, the start-up, the sharing), not the costs alone.',
    '',
    validationTable(rows, false),
  ].join('\n');
}

function heldOutMarkdown(rows: ValidationRow[]): string {
  if (rows.length === 0) return 'Held-out validation: this run measured one host count only, so no burst can be predicted from the others.';
  return [
    `### Held-out validation: each host count predicted from the other host counts' bursts only (target: within ±${VALIDATION_TOLERANCE * 100}%)`,
    '',
    "The rows above fit the testbed's CPU costs over every burst, the predicted ones included. Here no figure of the predicted bursts goes in: the sidecars' load and per-byte costs come from the other host counts' bursts, and so do the clients' cost, the edge's fill and the other work on the machine (from the nearest host count). The single-pull baselines (one cold pull, one direct client) are the same in both.",
    '',
    validationTable(rows, true),
  ].join('\n');
}

function validationTable(rows: ValidationRow[], heldOut: boolean): string {
  return table(
    ['hosts', ...(heldOut ? ['costs fitted on'] : []), 'policy', 'predicted (s)', 'measured (s, median)', 'predicted ÷ measured', 'result', 'bound by (model)'],
    rows.map((r) => [r.hosts, ...(heldOut ? [`${(r.fittedOn ?? []).join(', ')} hosts`] : []), r.policy, r.predictedSeconds.toFixed(2), r.measuredSeconds.toFixed(2), r.ratio.toFixed(2), r.pass ? '✅ pass' : '❌ fail', r.limit]),
  );
}

function comparisonMarkdown(c: FleetComparison): string {
  const s = c.spec;
  const gb = (bytes: number) => `${(bytes / 1e9).toFixed(1)} GB`;
  return [
    `### Kraken's setup: ${s.hosts.toLocaleString('en')} hosts, ${gb(s.layers.reduce((a, b) => a + b, 0))} in ${s.layers.length} layers, ${(s.hostBytesPerSec / 1e6).toFixed(0)} MB/s per host`,
    '',
    `${s.sites} sites of ${Math.round(s.hosts / s.sites)} hosts, each with a ${(s.wanBytesPerSec / 1e6).toFixed(0)} MB/s (10 Gbit/s) WAN link each way and ${(s.wanRttSeconds * 1000).toFixed(0)} ms to the edge; hosts start within ${s.jitterSeconds} s. ` +
      `Kraken's published figures (its own testbed): p50 ${KRAKEN.p50} s, p99 ${KRAKEN.p99} s, p99.9 ${KRAKEN.p999} s. "DHT per site": each site's sidecars in a swarm of their own; otherwise one swarm, as the code has it, where a provider lookup finds peers in any site.`,
    '',
    table(
      ['policy', 'p50 (s)', 'p99 (s)', 'p99.9 (s)', 'max (s)', 'Kraken p50 / p99 / p99.9', 'upstream', 'edge served', 'WAN P2P in (all sites)', 'peak streams / sidecar', 'tree depth', 'limit'],
      c.rows.map((r) => comparisonCells(r, gb)),
    ),
  ].join('\n');
}

function comparisonCells(row: ComparisonRow, gb: (bytes: number) => string): Array<string | number> {
  const r = row.result;
  return [variantName(row), r.p50.toFixed(1), r.p99.toFixed(1), r.p999.toFixed(1), r.max.toFixed(1), `${KRAKEN.p50} / ${KRAKEN.p99} / ${KRAKEN.p999}`, gb(r.upstreamBytes), gb(r.edgeBytes), gb(r.wan.reduce((n, w) => n + w.p2pIn, 0)), r.peakStreams, r.treeDepth, r.limit];
}

function largestMarkdown(c: FleetComparison): string {
  return [
    '### Largest fleet whose p99 stays under 2× one host\'s pull',
    '',
    `Sizes tried: 4, 16, 65, 260, 650, 1,300 and 2,600 hosts over ${c.spec.sites} sites (the same links), stopping at the first that fails.`,
    '',
    table(
      ['policy', 'one host\'s pull (s)', 'largest fleet', 'limit there', 'first size past it: p99, limit'],
      c.largest.map((l) => [
        variantName(l),
        l.singleHostSeconds.toFixed(1),
        l.hosts === 0 ? 'none' : l.failedAt ? l.hosts.toLocaleString('en') : `≥ ${l.hosts.toLocaleString('en')}`,
        l.limit,
        l.failedAt ? `${l.failedAt.hosts.toLocaleString('en')} hosts: ${l.failedAt.p99.toFixed(1)} s, ${l.failedAt.limit}` : '–',
      ]),
    ),
  ].join('\n');
}

const variantName = (v: { policy: Policy; dhtPerSite: boolean }) => (v.dhtPerSite ? `${v.policy}, DHT per site` : v.policy);
