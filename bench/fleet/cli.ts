import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, InvalidArgumentError, Option } from 'commander';
import { parseSize } from '../../sidecar/sizes.js';
import { readCalibration, type Calibration } from './calibration.js';
import { DEFAULT_MAX_PEER_STREAMS, POLICIES, type FleetResult, type Policy } from './inputs.js';
import { runFleet } from './run-fleet.js';
import { fleetInputs, FLEET_DEFAULTS } from './scenarios.js';
import { CALIBRATION_FILE } from './write-fleet.js';

// `npm run fleet`: what one image pull would take across a fleet, from the model and the last bench
// run's calibration (bench/out/calibration.json), or the defaults measured here when there is none.

const LAST_RUN = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'out', CALIBRATION_FILE);

const count = (value: string) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 100_000) throw new InvalidArgumentError('must be an integer 1–100000');
  return n;
};
const seconds = (value: string) => {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0 || n > 3600) throw new InvalidArgumentError('must be a number of seconds 0–3600');
  return n;
};
const size = (value: string) => {
  const bytes = parseSize(value);
  if (bytes === undefined || bytes < 1) throw new InvalidArgumentError(`expected a size like 1500MB or 1.5GiB, got ${value}`);
  return bytes;
};
/** `300MB/s`, `10Gbit/s` (÷ 8), or bytes per second. */
const rate = (value: string) => {
  const match = /^(.*?)(?:\/s)?$/i.exec(value.trim())!;
  const bits = /bit$/i.exec(match[1]!);
  const bytes = parseSize(bits ? match[1]!.slice(0, -3) : match[1]!);
  if (bytes === undefined || bytes < 1) throw new InvalidArgumentError(`expected a rate like 300MB/s or 10Gbit/s, got ${value}`);
  return bits ? bytes / 8 : bytes;
};
const sizes = (value: string) => value.split(',').map((part) => size(part.trim()));

const program = new Command('fleet')
  .description('Predicts one image pull across a fleet with the fleet model (bench/fleet/)')
  .requiredOption('--hosts <n>', 'hosts in the fleet', count)
  .option('--sites <n>', 'sites the hosts are spread over evenly', count, 1)
  .requiredOption('--layers <sizes>', 'comma-separated layer sizes, e.g. 1500MB,1500MB', sizes)
  .requiredOption('--host-rate <rate>', "each host's NIC, each direction, e.g. 300MB/s", rate)
  .option('--disk-rate <rate>', "each host's disk write rate (default: not limiting)", rate)
  .option('--wan-rate <rate>', "each site's WAN link, each direction", rate, FLEET_DEFAULTS.wanBytesPerSec)
  .option('--wan-rtt <seconds>', 'round trip from a site to the edge', seconds, FLEET_DEFAULTS.wanRttSeconds)
  .option('--edge-egress <rate>', 'all edge responses together (default: not limiting)', rate)
  .addOption(new Option('--policy <policy>', 'REDIRECT_POLICY (default: every one)').choices(POLICIES))
  .option('--max-peer-streams <n>', '--max-peer-streams of every sidecar', count, DEFAULT_MAX_PEER_STREAMS)
  .option('--jitter <seconds>', 'hosts start within this many seconds', seconds, FLEET_DEFAULTS.jitterSeconds)
  .option('--dht-per-site', "one DHT swarm per site (a swarm key each) instead of one across sites")
  .option('--calibration <file>', `calibration written by npm run bench (default: ${path.relative(process.cwd(), LAST_RUN)}, else the defaults measured here)`)
  .option('--json', 'print JSON')
  .parse();

interface Options {
  hosts: number;
  sites: number;
  layers: number[];
  hostRate: number;
  diskRate?: number;
  wanRate: number;
  wanRtt: number;
  edgeEgress?: number;
  policy?: Policy;
  maxPeerStreams: number;
  jitter: number;
  dhtPerSite?: boolean;
  calibration?: string;
  json?: boolean;
}
const o = program.opts<Options>();
if (o.sites > o.hosts) program.error('--sites cannot be more than --hosts');
if (o.calibration !== undefined && !existsSync(o.calibration)) program.error(`--calibration: no file ${o.calibration}`);
const calibration = loadCalibration(o.calibration ?? LAST_RUN);

const results = (o.policy ? [o.policy] : [...POLICIES]).map((policy) => {
  const r = runFleet(
    fleetInputs(calibration, {
      hosts: o.hosts,
      sites: o.sites,
      layers: o.layers,
      hostBytesPerSec: o.hostRate,
      diskBytesPerSec: o.diskRate,
      wanBytesPerSec: o.wanRate,
      wanRttSeconds: o.wanRtt,
      edgeEgressBytesPerSec: o.edgeEgress,
      policy,
      maxPeerStreams: o.maxPeerStreams,
      jitterSeconds: o.jitter,
      dhtPerSite: o.dhtPerSite ?? false,
    }),
  );
  return summary(r);
});

if (o.json) console.log(JSON.stringify(results, null, 2));
else {
  console.log(`${o.hosts} hosts in ${o.sites} site(s), layers ${o.layers.map((b) => `${(b / 1e6).toFixed(0)} MB`).join(' + ')}, ${(o.hostRate / 1e6).toFixed(0)} MB/s per host`);
  for (const r of results) {
    console.log(`${r.policy.padEnd(10)} p50 ${r.p50} s  p99 ${r.p99} s  p99.9 ${r.p999} s  max ${r.max} s  upstream ${(r.upstreamBytes / 1e9).toFixed(1)} GB  edge ${(r.edgeBytes / 1e9).toFixed(1)} GB  peak streams ${r.peakStreams}  limit: ${r.limit}`);
  }
}

function loadCalibration(file: string): Calibration {
  try {
    return readCalibration(file);
  } catch (err) {
    return program.error(`--calibration: ${(err as Error).message}`);
  }
}

function summary(r: FleetResult) {
  const s = (n: number) => Number(n.toFixed(2));
  return { policy: r.policy, p50: s(r.p50), p99: s(r.p99), p999: s(r.p999), max: s(r.max), upstreamBytes: r.upstreamBytes, edgeBytes: r.edgeBytes, wan: r.wan, peakStreams: r.peakStreams, treeDepth: r.treeDepth, limit: r.limit };
}
