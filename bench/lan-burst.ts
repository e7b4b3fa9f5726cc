import { createHash, randomBytes } from 'node:crypto';
import path from 'node:path';
import { startEdge, type RunningEdge } from '../scripts/edge-launcher.js';
import { buildCliBundle } from '../scripts/build-sidecar.js';
import { DEFAULTS } from '../sidecar/config.js';
import { parsePrometheus, sumSamples } from '../workers/shared/metrics-wire/parse.js';
import { getFrom, hostForwarder, loopbackHosts, pullBlobFrom, type HostForwarder, type HostResponse } from '../test/helpers/lan-hosts.js';
import { makeTempDir, sharedFreePort, sleep } from '../test/helpers/processes.js';
import { startRegistry, type RunningRegistry } from '../test/helpers/registry.js';
import { removeDir, startSidecar, stopAll, waitFor, type SidecarProcess } from '../test/helpers/sidecar-cluster.js';
import { busyTimeline, cpuShares, cpuSnapshot, ticksOf, TICKS_PER_SECOND, type BusySample, type CpuShares } from './lan-burst-cpu.js';
import { median } from './median.js';

// The LAN burst: N simulated hosts on 127.0.0.3…, each with a sidecar and one client,
// all needing the same uncached blob at once. Every configuration is cold: a fresh upstream registry
// holding the blob, a fresh edge state dir, fresh sidecar stores. SITES puts all of 127.0.0.0/8 in
// one site, so the redirect policy decides which sidecar each client is sent to.

export const LAN_VARIANTS = ['rendezvous', 'spread', 'local', 'off', 'pull-through', 'direct'] as const;
export type LanVariant = (typeof LAN_VARIANTS)[number];
export const REDIRECT_POLICIES = ['rendezvous', 'spread', 'local'] as const;

export interface LanBurstOptions {
  blobBytes: number;
  /** Numbers of hosts (sidecar + client each), e.g. [5, 10]. */
  hostCounts: number[];
  repeats: number;
  /** Which variants to run (default all); the single-pull baselines always run. */
  variants?: readonly LanVariant[];
  /** Fewer repeats for the last host count when another round would run past this; past 1.5× it, stop. */
  budgetMs: number;
  log: (line: string) => void;
}

export interface BurstSample {
  seconds: number;
  upstreamGets: number;
  upstreamBytes: number;
  /** Bytes the edge served (what would cross the WAN to the site); FastReg variants only. */
  edgeServedBytes?: number;
  /** Clients the edge sent to a sidecar. */
  redirected: number;
  /** When the first and the last client got their first body byte, seconds after the burst started. */
  firstBytes?: { first: number; last: number };
  /** Clients that did not get the whole blob with the right digest, and the first such error. */
  failedClients: number;
  firstError?: string;
  /** When each client had the whole blob, seconds after the burst started, in order. */
  clientsDone?: number[];
  /** Where the machine's CPU went during the burst, and its busy cores every BUSY_SAMPLE_MS. */
  cpu?: CpuShares & { busyCores?: BusySample[] };
  /** What each sidecar did during the burst, from its metrics and its CPU time. */
  sidecars?: SidecarWork[];
}

export interface LanVariantResult {
  variant: LanVariant;
  samples: BurstSample[];
  medianSeconds: number;
}

export interface LanHostCountResult {
  hosts: number;
  repeats: number;
  /** Why fewer repeats than asked, when so. */
  reduced?: string;
  variants: LanVariantResult[];
  /** Fastest redirect policy among those that read the upstream exactly once in every repeat. */
  winner?: string;
}

export interface LanBurstFigures {
  blobBytes: number;
  repeatsAsked: number;
  single: { direct: LanVariantResult; coldFastreg: LanVariantResult };
  byHosts: LanHostCountResult[];
  /** The winner at the largest host count measured. */
  winner?: string;
}

const NAME = 'library/lanburst';
const BURST_TIMEOUT_MS = 300_000;
const BUSY_SAMPLE_MS = 500;
const SITES = JSON.stringify({ lan: ['127.0.0.0/8'] });

interface Blob {
  bytes: Buffer;
  digest: string;
}

export async function runLanBurstBench(options: LanBurstOptions): Promise<LanBurstFigures> {
  const { log } = options;
  const started = performance.now();
  const work = makeTempDir('bench-lan');
  try {
    const bundle = await buildCliBundle(path.join(work.dir, 'fastreg.mjs'));
    const bytes = randomBytes(options.blobBytes);
    const blob: Blob = { bytes, digest: `sha256:${createHash('sha256').update(bytes).digest('hex')}` };
    const env: BurstEnv = { work: work.dir, bundle, blob, log, runs: 0, stopAt: started + 1.5 * options.budgetMs };

    log(`single-pull baselines: ${(options.blobBytes / 1e6).toFixed(0)} MB blob, median of ${options.repeats}`);
    const direct: BurstSample[] = [];
    const coldFastreg: BurstSample[] = [];
    for (let r = 0; r < options.repeats; r++) {
      direct.push(await burst(env, 'direct', 1));
      coldFastreg.push(await burst(env, 'off', 1));
    }
    const single = { direct: variantResult('direct', direct), coldFastreg: variantResult('off', coldFastreg) };

    const byHosts: LanHostCountResult[] = [];
    for (const [index, hosts] of options.hostCounts.entries()) {
      const samples = new Map<LanVariant, BurstSample[]>(LAN_VARIANTS.map((v) => [v, []]));
      let reduced: string | undefined;
      let repeats = 0;
      for (let r = 0; r < options.repeats; r++) {
        // Repeats are rounds over all variants, so every median has the same number of samples.
        const roundStarted = performance.now();
        for (const variant of options.variants ?? LAN_VARIANTS) samples.get(variant)!.push(await burst(env, variant, hosts));
        repeats++;
        const roundMs = performance.now() - roundStarted;
        const last = index === options.hostCounts.length - 1;
        if (last && r + 1 < options.repeats && performance.now() - started + roundMs > options.budgetMs) {
          reduced = `${repeats} of ${options.repeats} repeats: another would pass the section's ${(options.budgetMs / 60_000).toFixed(0)}-minute budget (a round took ${(roundMs / 1000).toFixed(0)} s)`;
          log(`  ${hosts} hosts: ${reduced}`);
          break;
        }
      }
      const variants = LAN_VARIANTS.filter((v) => samples.get(v)!.length > 0).map((v) => variantResult(v, samples.get(v)!));
      const readOnce = variants.filter((v) => (REDIRECT_POLICIES as readonly string[]).includes(v.variant) && v.samples.every((s) => s.upstreamGets === 1 && s.failedClients === 0));
      const winner = readOnce.sort((a, b) => a.medianSeconds - b.medianSeconds)[0]?.variant;
      byHosts.push({ hosts, repeats, ...(reduced ? { reduced } : {}), variants, ...(winner ? { winner } : {}) });
      log(`  ${hosts} hosts: winner ${winner ?? 'none (no policy read the upstream once every time)'}`);
    }
    const winner = byHosts[byHosts.length - 1]?.winner;
    return { blobBytes: options.blobBytes, repeatsAsked: options.repeats, single, byHosts, ...(winner ? { winner } : {}) };
  } finally {
    work.remove();
  }
}

function variantResult(variant: LanVariant, samples: BurstSample[]): LanVariantResult {
  return { variant, samples, medianSeconds: median(samples.map((s) => s.seconds)) };
}

interface BurstEnv {
  work: string;
  bundle: string;
  blob: Blob;
  log: (line: string) => void;
  runs: number;
  /** performance.now() after which no new configuration starts (ends the section before its hard limit). */
  stopAt: number;
}

/** One cold configuration: fresh upstream (and mirror), `hosts` clients at once, all processes stopped after. */
async function burst(env: BurstEnv, variant: LanVariant, hosts: number): Promise<BurstSample> {
  if (performance.now() > env.stopAt) throw new Error('LAN burst: past 1.5× its time budget, stopping');
  const dir = path.join(env.work, `run-${++env.runs}`);
  const hostList = loopbackHosts(hosts, 3);
  let upstream: RunningRegistry | undefined;
  let cache: RunningRegistry | undefined;
  let edge: RunningEdge | undefined;
  const forwarders: HostForwarder[] = [];
  const sidecars: SidecarProcess[] = [];
  try {
    upstream = await startRegistry({ dir: path.join(dir, 'upstream') });
    await uploadBlob(upstream.url, env.blob);
    let base: string;
    if (variant === 'direct') base = upstream.url;
    else if (variant === 'pull-through') base = (cache = await startRegistry({ dir: path.join(dir, 'pull-through'), proxyRemote: upstream.url })).url;
    else {
      const port = await sharedFreePort(hostList);
      edge = await startEdge({
        stateDir: path.join(dir, 'edge'),
        wranglerHome: path.join(env.work, 'wrangler'),
        upstream: upstream.url,
        logs: false,
        vars: { REDIRECT_POLICY: variant, SITES, SIDECAR_TABLE_TTL_MS: '250', LOCAL_SIDECAR_PORT: String(port) },
      });
      base = edge.url;
      // With `off` nothing is redirected, so the sidecars would only idle: none are started.
      if (variant !== 'off') await startHostSidecars(env, edge, hostList, port, dir, forwarders, sidecars);
    }

    const cpuBefore = cpuSnapshot();
    const parts = { sidecars: sidecars.map((s) => s.child.pid as number), edge: edge?.workerdPids() ?? [] };
    const timeline = busyTimeline(BUSY_SAMPLE_MS, parts);
    const t0 = performance.now();
    const doneAt: number[] = [];
    const firstByteAt: number[] = [];
    // A failed client is counted (and fails the variant), not thrown: the other variants still run.
    const pulls = await withDeadline(
      Promise.all(
        hostList.map(async (host) => {
          try {
            const p = await pull(host, base, env.blob.digest, variant, () => firstByteAt.push((performance.now() - t0) / 1000));
            const ok = p.final.status === 200 && p.final.bytes === env.blob.bytes.length && p.final.digest === env.blob.digest;
            doneAt.push((performance.now() - t0) / 1000);
            return { redirect: p.redirect, error: ok ? undefined : `${host}: HTTP ${p.final.status}, ${p.final.bytes} bytes via ${p.redirect ?? 'the first answer'}` };
          } catch (err) {
            return { redirect: undefined, error: `${host}: ${err instanceof Error ? err.message : String(err)}` };
          }
        }),
      ),
      BURST_TIMEOUT_MS,
      `${variant} burst of ${hosts}`,
    );
    const seconds = (performance.now() - t0) / 1000;
    const busyCores = timeline();
    const cpu = cpuShares(cpuBefore, cpuSnapshot(), parts);
    const errors = pulls.flatMap((p) => (p.error ? [p.error] : []));
    for (const sidecar of sidecars.filter((s) => errors.some((e) => e.includes(new URL(s.url).host)))) {
      env.log(`  ${sidecar.name} log (last lines):\n${sidecar.output().split('\n').slice(-8).join('\n')}`);
    }
    await sleep(1_500); // the upstream's access log line for a GET comes after its last byte
    const reads = upstream.blobReads(env.blob.digest);
    const sample: BurstSample = {
      seconds,
      upstreamGets: reads.gets,
      upstreamBytes: reads.bytes,
      redirected: pulls.filter((p) => p.redirect).length,
      ...(firstByteAt.length ? { firstBytes: { first: Math.min(...firstByteAt), last: Math.max(...firstByteAt) } } : {}),
      failedClients: errors.length,
      ...(errors.length ? { firstError: errors[0]!.slice(0, 300) } : {}),
      ...(edge ? { edgeServedBytes: await edgeServedBytes(edge.url) } : {}),
      clientsDone: doneAt.sort((a, b) => a - b),
      cpu: { ...cpu, busyCores },
      ...(sidecars.length ? { sidecars: await sidecarWork(sidecars, cpu.perSidecar) } : {}),
    };
    env.log(
      `  ${hosts} × ${variant.padEnd(12)} ${seconds.toFixed(2).padStart(6)} s  upstream ${sample.upstreamGets} GET(s) ${(sample.upstreamBytes / 1e6).toFixed(0)} MB` +
        (sample.edgeServedBytes === undefined ? '' : `, edge served ${(sample.edgeServedBytes / 1e6).toFixed(0)} MB, ${sample.redirected} redirected`) +
        (hosts > 1 ? `; first bytes at ${span(firstByteAt)} s, clients done at ${span(doneAt)} s` : '') +
        (errors.length ? `; ${errors.length} client(s) FAILED, first: ${sample.firstError}` : ''),
    );
    env.log(
      `    CPU s: sidecars ${cpu.sidecars.toFixed(1)}, edge ${cpu.edge.toFixed(1)}, bench ${cpu.bench.toFixed(1)}, registry ${cpu.registry.toFixed(1)}, other ${cpu.other.toFixed(1)} (${cpu.otherTop || '–'}); machine busy ${cpu.machineBusy.toFixed(1)} of ${cpu.machineTotal.toFixed(1)}, first seconds (busy cores per 0.5 s: machine/sidecars/edge/bench) ${busyCores.slice(0, 12).map((c) => `${c.machine.toFixed(1)}/${c.sidecars.toFixed(1)}/${c.edge.toFixed(1)}/${c.bench.toFixed(1)}`).join(' ')}` +
        (sample.sidecars ? `; per sidecar (CPU s/P2P MB out/in): ${sample.sidecars.map((w) => `${w.cpuSeconds.toFixed(1)}/${(w.p2pBytesOut / 1e6).toFixed(0)}/${(w.p2pBytesIn / 1e6).toFixed(0)}`).join(' ')}, ${sample.sidecars.reduce((n, w) => n + w.busyAnswers, 0)} busy` : ''),
    );
    return sample;
  } finally {
    await stopAll(sidecars);
    for (const forwarder of forwarders) forwarder.close();
    await edge?.stop().catch(() => undefined);
    await cache?.stop().catch(() => undefined);
    await upstream?.stop().catch(() => undefined);
    await Promise.all(sidecars.map((s) => removeDir(s.dir)));
    await removeDir(dir);
  }
}

/**
 * One sidecar per host, all on the same bridge port of their own address. That is what makes `local`
 * work on one machine: the edge redirects to http://127.0.0.1:LOCAL_SIDECAR_PORT, and the client on
 * 127.0.0.k follows it to 127.0.0.k:LOCAL_SIDECAR_PORT, its own host's sidecar (see pull()).
 */
async function startHostSidecars(env: BurstEnv, edge: RunningEdge, hosts: string[], port: number, dir: string, forwarders: HostForwarder[], sidecars: SidecarProcess[]): Promise<void> {
  const start = async (host: string, bootstrap: string[]) => {
    const forwarder = await hostForwarder(host, edge.url);
    forwarders.push(forwarder);
    const sidecar = await startSidecar({
      name: `lan-${host}`,
      dir: path.join(dir, `sidecar-${host}`),
      entry: env.bundle as `${string}.mjs`,
      bootstrap,
      // Production discovery (the test helper's 1 s lookups cost ~20% of a core per sidecar, and ten
      // simulated hosts share two cores here).
      args: ['--listen', `/ip4/${host}/tcp/0`, '--http', `${host}:${port}`, '--edge', forwarder.url, '--heartbeat-interval', '5000', '--capacity', '10GiB', '--discovery-interval', String(DEFAULTS.discoveryIntervalMs)],
      env: { FASTREG_ENROLL_TOKEN: edge.enrollToken },
    });
    sidecars.push(sidecar);
    return sidecar;
  };
  const first = await start(hosts[0]!, []);
  await Promise.all(hosts.slice(1).map((host) => start(host, [first.addr])));
  await waitFor(
    async () => {
      const res = await fetch(`${edge.url}/services/fastreg/records?limit=100`, { signal: AbortSignal.timeout(5_000) });
      const { records } = (await res.json()) as { records: { id: string; observedIp?: string }[] };
      return sidecars.every((s) => records.some((r) => r.id === s.peerId));
    },
    { timeoutMs: 30_000, intervalMs: 250, what: `${hosts.length} sidecars listed live at the edge` },
  );
  await sleep(500); // past SIDECAR_TABLE_TTL_MS, so the edge's cached site table has them all
  // A fresh mesh spends its first seconds on DHT self-lookups and discovery. On real hosts each
  // sidecar has its own CPU for that; here all share two cores, so the burst waits for it to end.
  const quietAfterMs = await waitForQuiet(sidecars.map((s) => s.child.pid as number));
  env.log(`  ${hosts.length} sidecars quiet after ${(quietAfterMs / 1000).toFixed(1)} s`);
}

const QUIET_CPU_FRACTION = 0.1;
const QUIET_MAX_MS = 30_000;

export interface SidecarWork {
  cpuSeconds: number;
  p2pBytesOut: number;
  p2pBytesIn: number;
  /** Bytes sent to HTTP clients. */
  servedBytes: number;
  /** Blobs it obtained (from the edge or from peers). */
  fetches: number;
  busyAnswers: number;
}

/** Each sidecar's metrics after the burst, beside its CPU seconds. */
async function sidecarWork(sidecars: SidecarProcess[], cpuSeconds: number[]): Promise<SidecarWork[]> {
  return Promise.all(
    sidecars.map(async (s, i) => {
      const metric = (name: string) => s.metric(name).catch(() => 0);
      return {
        cpuSeconds: cpuSeconds[i] ?? 0,
        p2pBytesOut: await metric('fastreg_sidecar_p2p_bytes_out_total'),
        p2pBytesIn: await metric('fastreg_sidecar_p2p_bytes_in_total'),
        servedBytes: await metric('fastreg_sidecar_served_bytes_total'),
        fetches: await metric('fastreg_sidecar_blob_fetches_total'),
        busyAnswers: await metric('fastreg_sidecar_p2p_busy_total'),
      };
    }),
  );
}

/** Waits (at most QUIET_MAX_MS) until the processes together use under 10% of one core over a second. */
async function waitForQuiet(pids: number[]): Promise<number> {
  const started = performance.now();
  const cpuTicks = () => ticksOf(pids);
  while (performance.now() - started < QUIET_MAX_MS) {
    const before = cpuTicks();
    await sleep(1_000);
    if ((cpuTicks() - before) / TICKS_PER_SECOND < QUIET_CPU_FRACTION) break;
  }
  return performance.now() - started;
}

async function pull(host: string, base: string, digest: string, variant: LanVariant, onFirstByte: () => void): Promise<{ redirect?: string; final: HostResponse }> {
  let seen = false;
  const options = { timeoutMs: 120_000, onBytes: () => seen || ((seen = true), onFirstByte()) };
  if (variant === 'direct' || variant === 'pull-through') return { final: await getFrom(host, `${base}/v2/${NAME}/blobs/${digest}`, options) };
  return pullBlobFrom(host, base, NAME, digest, { ...options, loopbackIsHost: true });
}

/** "min–max" of a list of seconds. */
function span(seconds: number[]): string {
  return seconds.length ? `${Math.min(...seconds).toFixed(1)}–${Math.max(...seconds).toFixed(1)}` : '–';
}

/** A monolithic blob upload (POST then PUT ?digest=): the blob only, no image around it. */
async function uploadBlob(registryUrl: string, blob: Blob): Promise<void> {
  const post = await fetch(`${registryUrl}/v2/${NAME}/blobs/uploads/`, { method: 'POST', signal: AbortSignal.timeout(30_000) });
  const location = post.headers.get('location');
  if (post.status !== 202 || !location) throw new Error(`upload start: HTTP ${post.status}`);
  const target = new URL(location, registryUrl);
  target.searchParams.set('digest', blob.digest);
  const put = await fetch(target, {
    method: 'PUT',
    body: blob.bytes,
    headers: { 'Content-Type': 'application/octet-stream' },
    signal: AbortSignal.timeout(120_000),
  });
  if (put.status !== 201) throw new Error(`upload: HTTP ${put.status} ${await put.text()}`);
}

async function edgeServedBytes(edgeUrl: string): Promise<number> {
  const text = await (await fetch(`${edgeUrl}/metrics`, { signal: AbortSignal.timeout(10_000) })).text();
  return sumSamples(parsePrometheus(text), 'fastreg_edge_served_bytes_total');
}

async function withDeadline<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: gave up after ${ms / 1000} s`)), ms)));
  try {
    return await Promise.race([work, limit]);
  } finally {
    clearTimeout(timer);
  }
}
