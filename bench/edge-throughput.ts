import { readFileSync } from 'node:fs';
import path from 'node:path';
import { startEdge, type RunningEdge } from '../scripts/edge-launcher.js';
import { OciLayout, pushImage, registryDigests } from '../test/helpers/images.js';
import { makeTempDir, run } from '../test/helpers/processes.js';
import { startRegistry, type RunningRegistry } from '../test/helpers/registry.js';
import { rawTcpSeconds } from './raw-tcp.js';
import { median } from './median.js';

// Blob GET throughput on loopback, in one run, through three paths to the same upstream blob:
// FastReg (the launched edge), distribution's pull-through cache, and the upstream directly.
// A cold burst of concurrent GETs for one uncached blob counts the upstream fetches each mirror makes.
// The client is curl (its own process, writing to /dev/null), so client CPU barely counts.
// Raw loopback TCP moving the same number of bytes, in the same run, is the ceiling.

export interface EdgeBenchOptions {
  blobBytes: number;
  warmRuns: number;
  burstClients: number;
  burstBlobBytes: number;
  /** Extra edge [vars], e.g. MULTIPART_THRESHOLD_BYTES. */
  edgeVars: Record<string, string>;
  log: (line: string) => void;
}

export interface Sample {
  seconds: number;
  bytes: number;
  mbPerSecond: number;
}

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
    /** Cold time through FastReg divided by a direct pull's time (target ≤ 1.2). */
    coldTimeFastregVsDirect: number;
  };
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

    edge = await startEdge({ stateDir: path.join(work.dir, 'edge'), upstream: upstream.url, logs: false, vars: options.edgeVars });
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
      const fastregSeconds = await concurrentGets(`${edge.url}${burstPath}`, burstBlob.size, options.burstClients);
      await settle();
      const afterFastreg = upstreamTotals();
      const pullThroughSeconds = await concurrentGets(`${cache.url}${burstPath}`, burstBlob.size, options.burstClients);
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
        fastregSeconds,
        pullThroughSeconds,
      };
      const mb = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;
      log(
        `  FastReg: ${fastregUpstreamGets} upstream GET(s), ${mb(fastregUpstreamBytes)}, ${fastregSeconds.toFixed(2)} s; ` +
          `pull-through cache: ${pullThroughUpstreamGets} upstream GET(s), ${mb(pullThroughUpstreamBytes)}, ${pullThroughSeconds.toFixed(2)} s`,
      );
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
      },
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

async function curlGet(url: string, expectedBytes: number): Promise<Sample> {
  const result = await run('curl', ['-sS', '--max-time', '300', '-o', '/dev/null', '-w', '%{http_code} %{size_download} %{time_total}', url], { timeoutMs: 320_000 });
  const [status, size, total] = result.stdout.trim().split(' ');
  if (result.code !== 0 || status !== '200' || Number(size) !== expectedBytes) {
    throw new Error(`GET ${url}: curl exit ${result.code}, HTTP ${status}, ${size}/${expectedBytes} bytes ${result.stderr}`);
  }
  const seconds = Number(total);
  return { seconds, bytes: expectedBytes, mbPerSecond: expectedBytes / 1e6 / seconds };
}

async function concurrentGets(url: string, expectedBytes: number, clients: number): Promise<number> {
  const started = performance.now();
  await Promise.all(Array.from({ length: clients }, () => curlGet(url, expectedBytes)));
  return (performance.now() - started) / 1000;
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
