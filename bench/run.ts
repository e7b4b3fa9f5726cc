import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, platform, release, totalmem } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, InvalidArgumentError } from 'commander';
import Table from 'cli-table3';
import { runEdgeBench, type EdgeBenchResult } from './edge-throughput.js';
import { writeFleetModel } from './fleet/write-fleet.js';
import { LAN_VARIANTS, runLanBurstBench, type LanVariant } from './lan-burst.js';
import { runLeaseBench } from './leases.js';
import { runP2pBench } from './p2p.js';
import { figureRows, lanMarkdown, mainTable, renderMarkdown, renderSvg, type Environment, type SectionName, type SectionOutcome, type SuiteReport, type SuiteSections } from './report.js';
import { benchServices } from './services.js';

// `npm run bench`: every benchmark section in one run, one after the other (they each saturate this
// machine's cores), each bounded in time. Writes bench/out/report.{md,json,svg}: the benchmark
// figures against their same-run baselines, as ratios, with targets and verdicts.

// Declared before the top-level awaits below use it (a class is not hoisted).
class SectionTimeout extends Error {}

const OUT_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), 'out');
const SECTIONS: SectionName[] = ['edge', 'leases', 'services', 'p2p', 'lan'];
const SECTION_LIMIT_MS: Record<SectionName, number> = { edge: 25 * 60_000, leases: 5 * 60_000, services: 8 * 60_000, p2p: 15 * 60_000, lan: 40 * 60_000 };
const HARD_LIMIT_MS = 90 * 60 * 1000;
const MiB = 1024 * 1024;

const positiveInt = (value: string) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('must be a non-negative integer');
  return n;
};
/** A comma-separated, non-empty subset of `allowed`. */
const subsetOf =
  <T extends string>(allowed: readonly T[], what: string) =>
  (value: string): T[] => {
    const names = value.split(',').map((s) => s.trim()).filter(Boolean);
    if (names.length === 0 || names.some((n) => !allowed.includes(n as T))) throw new InvalidArgumentError(`${what} are ${allowed.join(', ')}; got ${value}`);
    return names as T[];
  };
const sectionList = subsetOf(SECTIONS, 'sections');
const lanVariants = subsetOf(LAN_VARIANTS, 'variants');

const hostCounts = (value: string) => {
  const counts = value.split(',').map(Number);
  if (counts.length === 0 || counts.some((n) => !Number.isInteger(n) || n < 1 || n > 60)) throw new InvalidArgumentError('hosts are integers 1–60, e.g. 5,10');
  return counts;
};

const program = new Command('bench')
  .description('FastReg benchmark suite on loopback: edge throughput and cold burst, lease actor, service records, P2P, LAN burst')
  .option('--only <sections>', `comma-separated subset of ${SECTIONS.join(',')}`, sectionList, SECTIONS)
  .option('--blob-mb <n>', 'edge: size of the measured blob in MB (≥200 for the reported figures)', positiveInt, 256)
  .option('--warm-runs <n>', 'edge: warm GETs per target (median reported)', positiveInt, 3)
  .option('--burst-clients <n>', 'edge: concurrent GETs of one uncached blob (0 to skip)', positiveInt, 50)
  .option('--burst-mb <n>', 'edge: size of the burst blob in MB', positiveInt, 256)
  .option('--wan-mbps <n>', 'edge: rate of the WAN-shaped upstream in MB/s (0 to skip)', positiveInt, 50)
  .option('--wan-delay-ms <n>', 'edge: latency the WAN-shaped upstream adds to each request', positiveInt, 20)
  .option('--big-mb <n>', 'edge: size of the multi-GiB layer in MB (0 to skip)', positiveInt, 2048)
  .option('--big-clients <n>', 'edge: concurrent cold GETs of the multi-GiB layer', positiveInt, 10)
  .option('--edge-var <KEY=VALUE...>', 'edge [vars] override, e.g. BLOB_PIECE_BYTES=16777216', (value: string, previous: string[] = []) => [...previous, value])
  .option('--lease-repeats <n>', 'leases: runs of each phase (median reported)', positiveInt, 3)
  .option('--services-records <n>', 'services: records in the resource', positiveInt, 10_000)
  .option('--p2p-size-mb <n>', 'p2p: MiB moved while sampling RSS', positiveInt, 1024)
  .option('--p2p-round-mb <n>', 'p2p: MiB per interleaved throughput round', positiveInt, 256)
  .option('--p2p-rounds <n>', 'p2p: interleaved throughput rounds (median reported)', positiveInt, 3)
  .option('--lan-mb <n>', 'lan: size of the burst blob in MB', positiveInt, 200)
  .option('--lan-hosts <list>', 'lan: comma-separated numbers of hosts (sidecar + client each)', hostCounts, [5, 10])
  .option('--lan-variants <list>', `lan: comma-separated subset of ${LAN_VARIANTS.join(',')}`, lanVariants, [...LAN_VARIANTS])
  .option('--lan-repeats <n>', 'lan: repeats of every configuration (median reported)', positiveInt, 3)
  .option('--lan-budget-min <n>', 'lan: fewer repeats for the last host count past this many minutes', positiveInt, 20)
  .option('--no-fleet', 'skip the fleet model (about 3 minutes) after the measured sections')
  .parse();

interface Options {
  only: SectionName[];
  blobMb: number;
  warmRuns: number;
  burstClients: number;
  burstMb: number;
  wanMbps: number;
  wanDelayMs: number;
  bigMb: number;
  bigClients: number;
  edgeVar?: string[];
  leaseRepeats: number;
  servicesRecords: number;
  p2pSizeMb: number;
  p2pRoundMb: number;
  p2pRounds: number;
  lanMb: number;
  lanHosts: number[];
  lanRepeats: number;
  lanVariants: readonly LanVariant[];
  lanBudgetMin: number;
  fleet: boolean;
}
const options = program.opts<Options>();
const edgeVars: Record<string, string> = {};
for (const pair of options.edgeVar ?? []) {
  const eq = pair.indexOf('=');
  if (eq < 1) program.error(`--edge-var expects KEY=VALUE, got "${pair}"`);
  edgeVars[pair.slice(0, eq)] = pair.slice(eq + 1);
}

const watchdog = setTimeout(() => {
  console.error(`bench: gave up after ${HARD_LIMIT_MS / 60_000} min`);
  process.exit(3);
}, HARD_LIMIT_MS);
watchdog.unref();

const environment: Environment = {
  cores: cpus().length,
  cpuModel: cpus()[0]?.model.trim() ?? 'unknown',
  node: process.version,
  platform: `${platform()} ${release()}`,
  memoryGB: totalmem() / 1e9,
  loadAverageAtStart: loadavg(),
  date: new Date().toISOString(),
};
console.log(`environment: ${environment.cores} cores, ${environment.cpuModel}, Node ${environment.node}, ${environment.platform}, ${environment.date}`);
console.log(`sections: ${options.only.join(', ')}`);

const started = performance.now();
const log = (section: SectionName) => (line: string) => console.log(`[${section}] ${line}`);
const sections: SuiteSections = {
  edge: await section('edge', () =>
    runEdgeBench({
      blobBytes: options.blobMb * 1e6,
      warmRuns: Math.max(1, options.warmRuns),
      burstClients: options.burstClients,
      burstBlobBytes: options.burstMb * 1e6,
      wan: { mbPerSecond: options.wanMbps, delayMs: options.wanDelayMs },
      big: { bytes: options.bigMb * 1e6, clients: Math.max(1, options.bigClients) },
      edgeVars,
      log: log('edge'),
    }),
  ),
  leases: await section('leases', () => runLeaseBench({ repeats: Math.max(1, options.leaseRepeats), log: log('leases') })),
  services: await section('services', async () => {
    const { startEdge } = await import('../scripts/edge-launcher.js');
    const { makeTempDir } = await import('../test/helpers/processes.js');
    const work = makeTempDir('bench-services');
    const edge = await startEdge({ stateDir: work.dir, logs: false });
    try {
      log('services')(`${options.servicesRecords} records, then gets, searches and watch latency`);
      return await benchServices(edge.url, edge.token, { records: options.servicesRecords });
    } finally {
      await edge.stop().catch(() => undefined);
      work.remove();
    }
  }),
  p2p: await section('p2p', () =>
    runP2pBench({ sizeBytes: options.p2pSizeMb * MiB, roundBytes: options.p2pRoundMb * MiB, rounds: Math.max(1, options.p2pRounds), log: log('p2p') }),
  ),
  lan: await section('lan', () =>
    runLanBurstBench({
      blobBytes: options.lanMb * 1e6,
      hostCounts: options.lanHosts,
      repeats: Math.max(1, options.lanRepeats),
      variants: options.lanVariants,
      budgetMs: options.lanBudgetMin * 60_000,
      log: log('lan'),
    }),
  ),
};

if (sections.edge.figures) printEdge(sections.edge.figures);
if (sections.lan.figures) console.log(`\n${lanMarkdown(sections.lan.figures)}`);
const report: SuiteReport = {
  at: new Date().toISOString(),
  environment,
  options: { ...options, edgeVar: undefined, edgeVars },
  seconds: (performance.now() - started) / 1000,
  figures: figureRows(sections),
  sections,
};
mkdirSync(OUT_DIR, { recursive: true });
if (options.fleet) report.fleet = writeFleetModel(OUT_DIR, sections, environment, (line) => console.log(`[fleet] ${line}`));
writeFileSync(path.join(OUT_DIR, 'report.json'), `${JSON.stringify(report, null, 2)}\n`);
writeFileSync(path.join(OUT_DIR, 'report.md'), renderMarkdown(report));
writeFileSync(path.join(OUT_DIR, 'report.svg'), renderSvg(report.figures, `FastReg benchmark ${environment.date.slice(0, 16)}Z, ${environment.cores} cores`));
if (sections.edge.figures) {
  const r = sections.edge.figures;
  writeFileSync(path.join(OUT_DIR, `edge-${r.at.replace(/[:.]/g, '-')}.json`), JSON.stringify(r, null, 2));
  writeFileSync(path.join(OUT_DIR, 'edge-latest.json'), JSON.stringify(r, null, 2));
}
console.log(`\n${mainTable(report.figures)}\n`);
console.log(`suite: ${report.seconds.toFixed(0)} s; written: ${path.relative(process.cwd(), path.join(OUT_DIR, 'report.md'))}, report.json, report.svg`);
clearTimeout(watchdog);
const failed = SECTIONS.filter((name) => sections[name].status === 'failed' || sections[name].status === 'timeout');
// Sections that timed out may have left work running; exiting ends this process's own children.
process.exit(failed.length ? 1 : 0);

/** Runs one section under its time limit; a failure is recorded and the suite goes on. */
async function section<T>(name: SectionName, run: () => Promise<T>): Promise<SectionOutcome<T>> {
  if (!options.only.includes(name)) return { status: 'skipped', seconds: 0 };
  console.log(`\n== ${name} ==`);
  const t0 = performance.now();
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new SectionTimeout(`gave up after ${SECTION_LIMIT_MS[name] / 60_000} min`)), SECTION_LIMIT_MS[name]);
  });
  try {
    const figures = await Promise.race([run(), limit]);
    const seconds = (performance.now() - t0) / 1000;
    console.log(`== ${name}: ${seconds.toFixed(0)} s ==`);
    return { status: 'ok', seconds, figures };
  } catch (err) {
    const seconds = (performance.now() - t0) / 1000;
    const message = err instanceof Error ? err.message : String(err);
    console.error(`== ${name}: ${err instanceof SectionTimeout ? 'timed out' : 'failed'} after ${seconds.toFixed(0)} s: ${message}`);
    return { status: err instanceof SectionTimeout ? 'timeout' : 'failed', seconds, error: message };
  } finally {
    clearTimeout(timer);
  }
}


function printEdge(r: EdgeBenchResult): void {
  const mbps = (n: number | undefined) => (n === undefined ? '–' : n.toFixed(0));
  const table = new Table({ head: ['target', 'cold MB/s', 'warm MB/s (median)', 'warm samples'] });
  for (const [name, t] of [
    ['FastReg edge (Miniflare)', r.targets.fastreg],
    ['distribution pull-through cache', r.targets.pullThroughCache],
    ['upstream direct', r.targets.direct],
  ] as const) {
    table.push([name, mbps(t.cold?.mbPerSecond), mbps(t.warmMedianMBps), t.warm.map((s) => mbps(s.mbPerSecond)).join(' ')]);
  }
  const vars = Object.entries(r.edgeVars).map(([k, v]) => `${k}=${v}`).join(' ');
  console.log(`\nedge blob: ${(r.blobBytes / 1e6).toFixed(0)} MB (MB = 10^6 bytes)${vars ? `; edge vars: ${vars}` : ''}; edge peak RSS ${r.edgePeakRssMB === null ? 'n/a' : `${r.edgePeakRssMB.toFixed(0)} MB`}`);
  console.log(table.toString());
}
