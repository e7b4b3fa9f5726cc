import { readFileSync } from 'node:fs';
import path from 'node:path';
import { startEdge, type RunningEdge } from '../scripts/edge-launcher.js';
import { OciLayout, pushImage, registryDigests } from '../test/helpers/images.js';
import { makeTempDir } from '../test/helpers/processes.js';
import { startRegistry, type RunningRegistry } from '../test/helpers/registry.js';
import { type BurstTimes, concurrentGets, curlGet, lastDone, type Sample } from './curl.js';
import { median } from './median.js';
import { measureR2Ceiling, r2PutWorker, type R2Ceiling } from './r2-ceiling.js';
import { rawTcpSeconds } from './raw-tcp.js';
import { startWanProxy } from './wan-proxy.js';

// Blob GET throughput on loopback, in one run, through three paths to the same upstream blob:
// FastReg (the launched edge), distribution's pull-through cache, and the upstream directly.
// A cold burst of concurrent GETs for one uncached blob counts the upstream fetches each mirror makes.
// The client is curl (its own process, writing to /dev/null), so client CPU barely counts.
// Raw loopback TCP moving the same number of bytes, in the same run, is the warm ceiling; a
// bench-only Worker putting the same bytes into the same local R2 is the cold one. A WAN-shaped
// proxy in front of the upstream gives the cold pull a remote registry's pace and latency.

export interface EdgeBenchOptions {
  blobBytes: number;
  warmRuns: number;
  burstClients: number;
  burstBlobBytes: number;
  /** Extra edge [vars], e.g. BLOB_PIECE_BYTES. */
  edgeVars: Record<string, string>;
  /** The WAN-shaped upstream: link rate and added latency per request (0 MB/s skips it). */
  wan: { mbPerSecond: number; delayMs: number };
  /** A multi-GiB layer pulled cold by a burst of clients, then warm (0 bytes skips it). */
  big: { bytes: number; clients: number };
  log: (line: string) => void;
}

export type { Sample } from './curl.js';

export interface TargetResult {
  cold?: Sample;
  warm: Sample[];
  warmMedianMBps: number;
}

export interface EdgeBenchResult {
  at: string;
  blobBytes: number;
  edgeVars: Record<string, string>;
  targets: { fastreg: TargetResult; pullThroughCache: TargetResult; direct: TargetResult };
  /** Raw loopback TCP moving blobBytes (one connection, sender in its own process), MB/s per run and median. */
  rawTcp?: { samplesMBps: number[]; medianMBps: number };
  ratios: {
    warmFastregVsPullThrough: number;
    warmFastregVsDirect: number;
    /** Warm FastReg throughput over raw loopback TCP's (target ≥ 0.5). */
    warmFastregVsRawTcp?: number;
    coldFastregVsPullThrough: number;
    /** Cold time through FastReg divided by a direct pull's time. */
    coldTimeFastregVsDirect: number;
    /** Median cold FastReg throughput (coldRounds) over the local R2 put ceiling of the same run (target ≥ 0.9). */
    coldFastregVsR2Ceiling?: number;
  };
  r2Ceiling?: R2Ceiling;
  /** Every cold pull of a blob of the main size: the first GET of the main blob, then one after each round of R2 puts. */
  coldRounds?: { samples: Sample[]; medianMBps: number };
  /** Cold pull of the blob through a WAN-shaped upstream: directly and through a fresh edge (target ≤ 1.15). */
  wan?: { mbPerSecond: number; delayMs: number; directSeconds: number[]; fastregColdSeconds: number; coldTimeFastregVsDirect: number };
  /** A multi-GiB layer: a cold burst, then one warm GET; warm throughput against the main blob's (target ≥ 0.5). */
  big?: { blobBytes: number; clients: number; cold: BurstTimes; warm: Sample; warmVsMainWarm: number; edgePeakRssMB: number | null };
  burst?: {
    clients: number;
    blobBytes: number;
    fastregUpstreamGets: number;
    pullThroughUpstreamGets: number;
    /** Bytes the upstream wrote for GETs of the burst blob, from its own access log (`http.response.written`). */
    fastregUpstreamBytes: number;
    pullThroughUpstreamBytes: number;
    fastregSeconds: number;
    pullThroughSeconds: number;
    /** The last client's completion when the same burst runs again on the stored blob: the floor of the cold figure here. */
    fastregWarmSeconds?: number;
    /** Each FastReg client's first byte and completion (s from the burst's start). */
    fastregTimes?: BurstTimes;
    /** One cold FastReg pull of this size (the main cold pull, scaled by size when the sizes differ). */
    oneColdPullSeconds?: number;
  };
  edgePeakRssMB: number | null;
}

const REPO = 'library/bench';

export async function runEdgeBench(options: EdgeBenchOptions): Promise<EdgeBenchResult> {
  const { log } = options;
  const work = makeTempDir('bench');
  let upstream: RunningRegistry | undefined;
  let cache: RunningRegistry | undefined;
  let edge: RunningEdge | undefined;
  try {
    upstream = await startRegistry({ dir: path.join(work.dir, 'upstream') });
    log(`upstream registry ${upstream.url}`);
    log(`building and pushing a ${(options.blobBytes / 1e6).toFixed(0)} MB layer…`);
    const blob = await pushBlobImage(work.dir, upstream, 'big', options.blobBytes);
    const burstBlob = options.burstClients > 0 ? await pushBlobImage(work.dir, upstream, 'burst', options.burstBlobBytes) : undefined;
    // More blobs of the same size, each pulled cold once between two rounds of the R2 ceiling.
    const coldBlobs: { digest: string; size: number }[] = [];
    for (let i = 0; i < options.warmRuns; i++) coldBlobs.push(await pushBlobImage(work.dir, upstream, `cold-${i + 1}`, options.blobBytes));

    edge = await startEdge({ stateDir: path.join(work.dir, 'edge'), upstream: upstream.url, logs: false, vars: options.edgeVars, extraWorkers: [await r2PutWorker(work.dir)] });
    const pieceBytes = Number(edge.vars.BLOB_PIECE_BYTES ?? 8 * 1024 * 1024);
    cache = await startRegistry({ dir: path.join(work.dir, 'pull-through'), proxyRemote: upstream.url });
    log(`FastReg edge ${edge.url} (workerd ${edge.workerdPids().join(',')}); pull-through cache ${cache.url}`);

    const blobPath = `/v2/${REPO}/blobs/${blob.digest}`;
    const measure = async (label: string, base: string): Promise<Sample> => {
      const sample = await curlGet(`${base}${blobPath}`, blob.size);
      log(`  ${label.padEnd(28)} ${sample.mbPerSecond.toFixed(0).padStart(6)} MB/s  (${sample.seconds.toFixed(2)} s)`);
      return sample;
    };

    log('direct from the upstream');
    const direct: Sample[] = [];
    for (let i = 0; i < options.warmRuns + 1; i++) direct.push(await measure(`direct #${i + 1}`, upstream.url));
    const directResult: TargetResult = { warm: direct.slice(1), warmMedianMBps: median(direct.slice(1).map((s) => s.mbPerSecond)) };

    log('raw loopback TCP (the ceiling)');
    const rawTcpSamples: number[] = [];
    for (let i = 0; i < options.warmRuns; i++) {
      rawTcpSamples.push(blob.size / 1e6 / (await rawTcpSeconds(blob.size)));
      log(`  raw TCP #${i + 1}                   ${rawTcpSamples[i]!.toFixed(0).padStart(6)} MB/s`);
    }
    const rawTcp = { samplesMBps: rawTcpSamples.map(Math.round), medianMBps: median(rawTcpSamples) };

    const target = async (label: string, base: string): Promise<TargetResult> => {
      log(label);
      const cold = await measure('cold (first GET)', base);
      await sleep(1_000); // let the cache write settle before warm reads
      const warm: Sample[] = [];
      for (let i = 0; i < options.warmRuns; i++) warm.push(await measure(`warm #${i + 1}`, base));
      return { cold, warm, warmMedianMBps: median(warm.map((s) => s.mbPerSecond)) };
    };
    const fastreg = await target('FastReg edge (Miniflare)', edge.url);
    const edgePeakRssMB = peakRssMB(edge.workerdPids());
    log('local R2 put ceiling (bench-only Worker, same bucket)');
    const interleaved: Sample[] = [];
    const r2Ceiling = await measureR2Ceiling(edge, blob.size, pieceBytes, options.warmRuns, log, async (round) => {
      const sample = await curlGet(`${edge!.url}/v2/${REPO}/blobs/${coldBlobs[round]!.digest}`, coldBlobs[round]!.size);
      log(`  cold pull of another blob #${round + 1}   ${sample.mbPerSecond.toFixed(0).padStart(6)} MB/s  (${sample.seconds.toFixed(2)} s)`);
      interleaved.push(sample);
    });
    const coldSamples = [fastreg.cold!, ...interleaved];
    const coldRounds = { samples: coldSamples, medianMBps: median(coldSamples.map((s) => s.mbPerSecond)) };
    const pullThroughCache = await target('distribution pull-through cache', cache.url);

    let burst: EdgeBenchResult['burst'];
    if (burstBlob) {
      log(`cold burst: ${options.burstClients} concurrent GETs of one uncached ${(options.burstBlobBytes / 1e6).toFixed(0)} MB blob`);
      const burstPath = `/v2/${REPO}/blobs/${burstBlob.digest}`;
      // The upstream's own access log: GETs answered and bytes written for the burst blob.
      const upstreamTotals = () => upstream!.blobReads(burstBlob.digest);
      // A mirror may still be filling (or its upstream response still logging) when the clients are done.
      const settle = () => sleep(1_500);
      const before = upstreamTotals();
      const fastregTimes = await concurrentGets(`${edge.url}${burstPath}`, burstBlob.size, options.burstClients);
      await settle();
      const afterFastreg = upstreamTotals();
      // The same burst again, now stored: what this machine (one workerd thread, one curl) allows a burst at all.
      const fastregWarmTimes = await concurrentGets(`${edge.url}${burstPath}`, burstBlob.size, options.burstClients);
      const pullThroughTimes = await concurrentGets(`${cache.url}${burstPath}`, burstBlob.size, options.burstClients);
      await settle();
      const afterPullThrough = upstreamTotals();
      const fastregUpstreamGets = afterFastreg.gets - before.gets;
      const pullThroughUpstreamGets = afterPullThrough.gets - afterFastreg.gets;
      const fastregUpstreamBytes = afterFastreg.bytes - before.bytes;
      const pullThroughUpstreamBytes = afterPullThrough.bytes - afterFastreg.bytes;
      burst = {
        clients: options.burstClients,
        blobBytes: burstBlob.size,
        fastregUpstreamGets,
        pullThroughUpstreamGets,
        fastregUpstreamBytes,
        pullThroughUpstreamBytes,
        fastregSeconds: fastregTimes.seconds,
        pullThroughSeconds: pullThroughTimes.seconds,
        fastregTimes,
        fastregWarmSeconds: lastDone(fastregWarmTimes),
        oneColdPullSeconds: fastreg.cold!.seconds * (burstBlob.size / blob.size),
      };
      const mb = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;
      log(
        `  FastReg: ${fastregUpstreamGets} upstream GET(s), ${mb(fastregUpstreamBytes)}, ${fastregTimes.seconds.toFixed(2)} s, first bytes within ${fastregTimes.firstByteSpreadSeconds.toFixed(2)} s; ` +
          `pull-through cache: ${pullThroughUpstreamGets} upstream GET(s), ${mb(pullThroughUpstreamBytes)}, ${pullThroughTimes.seconds.toFixed(2)} s`,
      );
      log(`  the same burst warm: last client done at ${lastDone(fastregWarmTimes).toFixed(2)} s`);
      log(`  FastReg clients (first byte/done, s): ${fastregTimes.clients.map((c) => `${c.firstByte.toFixed(2)}/${c.done.toFixed(1)}`).join(' ')}`);
    }

    const wan = options.wan.mbPerSecond > 0 ? await measureWan(work.dir, upstream, blobPath, blob.size, options) : undefined;

    let big: EdgeBenchResult['big'];
    if (options.big.bytes > 0) {
      log(`multi-GiB layer: building and pushing ${(options.big.bytes / 1e6).toFixed(0)} MB…`);
      const bigBlob = await pushBlobImage(work.dir, upstream, 'huge', options.big.bytes);
      const bigPath = `/v2/${REPO}/blobs/${bigBlob.digest}`;
      const cold = await concurrentGets(`${edge.url}${bigPath}`, bigBlob.size, options.big.clients);
      log(`  cold burst of ${options.big.clients}: ${cold.seconds.toFixed(1)} s, first bytes within ${cold.firstByteSpreadSeconds.toFixed(2)} s, last done at ${lastDone(cold).toFixed(1)} s`);
      await sleep(1_000);
      const warm = await curlGet(`${edge.url}${bigPath}`, bigBlob.size);
      log(`  warm: ${warm.mbPerSecond.toFixed(0)} MB/s (${warm.seconds.toFixed(2)} s)`);
      big = { blobBytes: bigBlob.size, clients: options.big.clients, cold, warm, warmVsMainWarm: warm.mbPerSecond / fastreg.warmMedianMBps, edgePeakRssMB: peakRssMB(edge.workerdPids()) };
    }

    return {
      at: new Date().toISOString(),
      blobBytes: blob.size,
      edgeVars: options.edgeVars,
      targets: { fastreg, pullThroughCache, direct: directResult },
      rawTcp,
      ratios: {
        warmFastregVsPullThrough: fastreg.warmMedianMBps / pullThroughCache.warmMedianMBps,
        warmFastregVsDirect: fastreg.warmMedianMBps / directResult.warmMedianMBps,
        warmFastregVsRawTcp: fastreg.warmMedianMBps / rawTcp.medianMBps,
        coldFastregVsPullThrough: fastreg.cold!.mbPerSecond / pullThroughCache.cold!.mbPerSecond,
        coldTimeFastregVsDirect: fastreg.cold!.seconds / median(direct.map((s) => s.seconds)),
        coldFastregVsR2Ceiling: coldRounds.medianMBps / r2Ceiling.medianMBps,
      },
      r2Ceiling,
      coldRounds,
      wan,
      big,
      burst,
      edgePeakRssMB: Math.max(edgePeakRssMB ?? 0, peakRssMB(edge.workerdPids()) ?? 0) || null,
    };
  } finally {
    await edge?.stop().catch(() => undefined);
    await cache?.stop().catch(() => undefined);
    await upstream?.stop().catch(() => undefined);
    work.remove();
  }
}

async function pushBlobImage(workDir: string, upstream: RunningRegistry, tag: string, bytes: number): Promise<{ digest: string; size: number }> {
  const layout = new OciLayout(path.join(workDir, `layout-${tag}`));
  layout.tag(await layout.writeImage([[{ name: 'blob.bin', randomBytes: bytes }]]), tag);
  await pushImage(layout.dir, tag, `${upstream.hostPort}/${REPO}:${tag}`);
  const digests = await registryDigests(upstream.url, REPO, tag);
  const layer = digests.blobs[digests.blobs.length - 1]!;
  const head = await fetch(`${upstream.url}/v2/${REPO}/blobs/${layer}`, { method: 'HEAD' });
  return { digest: layer, size: Number(head.headers.get('content-length')) };
}

/** The main blob through a WAN-shaped proxy in front of the upstream: directly, then cold through a fresh edge. */
async function measureWan(workDir: string, upstream: RunningRegistry, blobPath: string, size: number, options: EdgeBenchOptions): Promise<EdgeBenchResult['wan']> {
  const { log } = options;
  const { mbPerSecond, delayMs } = options.wan;
  const proxy = await startWanProxy({ target: upstream.url, mbPerSecond, delayMs });
  let wanEdge: RunningEdge | undefined;
  try {
    log(`WAN-shaped upstream (${mbPerSecond} MB/s, +${delayMs} ms per request) ${proxy.url}`);
    const directSeconds: number[] = [];
    for (let i = 0; i < 2; i++) {
      const sample = await curlGet(`${proxy.url}${blobPath}`, size);
      directSeconds.push(sample.seconds);
      log(`  direct through the proxy #${i + 1}   ${sample.mbPerSecond.toFixed(0).padStart(6)} MB/s  (${sample.seconds.toFixed(2)} s)`);
    }
    wanEdge = await startEdge({ stateDir: path.join(workDir, 'edge-wan'), upstream: proxy.url, logs: false, vars: options.edgeVars });
    const cold = await curlGet(`${wanEdge.url}${blobPath}`, size);
    log(`  cold through a fresh edge      ${cold.mbPerSecond.toFixed(0).padStart(6)} MB/s  (${cold.seconds.toFixed(2)} s)`);
    return { mbPerSecond, delayMs, directSeconds, fastregColdSeconds: cold.seconds, coldTimeFastregVsDirect: cold.seconds / median(directSeconds) };
  } finally {
    await wanEdge?.stop().catch(() => undefined);
    await proxy.stop();
  }
}

/** Peak resident set (VmHWM) over the given processes, in MB. */
function peakRssMB(pids: number[]): number | null {
  let peak: number | null = null;
  for (const pid of pids) {
    try {
      const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
      if (match) peak = Math.max(peak ?? 0, Number(match[1]) / 1024);
    } catch {
      // exited
    }
  }
  return peak;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
