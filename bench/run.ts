import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, InvalidArgumentError } from 'commander';
import Table from 'cli-table3';
import { runEdgeBench, type EdgeBenchResult } from './edge-throughput.js';

// `npm run bench`: edge blob throughput against distribution's pull-through cache and the upstream
// itself, all on loopback, in one run. Results go to stdout and bench/out/.

const OUT_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), 'out');
const HARD_LIMIT_MS = 20 * 60 * 1000;

const positiveInt = (value: string) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('must be a non-negative integer');
  return n;
};

const program = new Command('bench')
  .description('FastReg edge throughput vs distribution pull-through cache vs direct upstream (loopback)')
  .option('--blob-mb <n>', 'size of the measured blob in MB (≥200 for the reported figures)', positiveInt, 256)
  .option('--warm-runs <n>', 'warm GETs per target', positiveInt, 3)
  .option('--burst-clients <n>', 'concurrent GETs of one uncached blob (0 to skip)', positiveInt, 50)
  .option('--burst-mb <n>', 'size of the burst blob in MB', positiveInt, 16)
  .option('--edge-var <KEY=VALUE...>', 'edge [vars] override, e.g. MULTIPART_THRESHOLD_BYTES=1073741824', (value: string, previous: string[] = []) => [...previous, value])
  .parse();

const options = program.opts<{ blobMb: number; warmRuns: number; burstClients: number; burstMb: number; edgeVar?: string[] }>();
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

const result = await runEdgeBench({
  blobBytes: options.blobMb * 1e6,
  warmRuns: Math.max(1, options.warmRuns),
  burstClients: options.burstClients,
  burstBlobBytes: options.burstMb * 1e6,
  edgeVars,
  log: (line) => console.log(line),
});
print(result);
mkdirSync(OUT_DIR, { recursive: true });
const file = path.join(OUT_DIR, `edge-${result.at.replace(/[:.]/g, '-')}.json`);
writeFileSync(file, JSON.stringify(result, null, 2));
writeFileSync(path.join(OUT_DIR, 'edge-latest.json'), JSON.stringify(result, null, 2));
console.log(`\nwritten: ${path.relative(process.cwd(), file)}`);
clearTimeout(watchdog);

function print(r: EdgeBenchResult): void {
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
  console.log(`\nblob: ${(r.blobBytes / 1e6).toFixed(0)} MB (MB = 10^6 bytes)${vars ? `; edge vars: ${vars}` : ''}`);
  console.log(table.toString());
  const ratios = new Table({ head: ['ratio', 'value', 'target'] });
  ratios.push(
    ['warm: FastReg / pull-through cache', r.ratios.warmFastregVsPullThrough.toFixed(2), '≥ 1'],
    ['warm: FastReg / direct', r.ratios.warmFastregVsDirect.toFixed(2), '≥ 0.5'],
    ['cold: FastReg / pull-through cache (MB/s)', r.ratios.coldFastregVsPullThrough.toFixed(2), ''],
    ['cold time: FastReg / direct pull', r.ratios.coldTimeFastregVsDirect.toFixed(2), '≤ 1.2'],
  );
  if (r.burst) {
    ratios.push([`burst of ${r.burst.clients}: upstream GETs FastReg / pull-through`, `${r.burst.fastregUpstreamGets} / ${r.burst.pullThroughUpstreamGets}`, '1 / –']);
    ratios.push([`burst of ${r.burst.clients}: wall time FastReg / pull-through (s)`, `${r.burst.fastregSeconds.toFixed(2)} / ${r.burst.pullThroughSeconds.toFixed(2)}`, '']);
  }
  ratios.push(['edge peak RSS (workerd VmHWM)', r.edgePeakRssMB === null ? 'n/a' : `${r.edgePeakRssMB.toFixed(0)} MB`, '']);
  console.log(ratios.toString());
}
