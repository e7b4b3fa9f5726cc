// P2P benchmark: sidecar-to-sidecar throughput against raw noise+yamux and raw TCP on loopback (same
// run, as ratios), sidecar RSS while moving a large blob, and DHT provide/find latency with 20
// in-process nodes. Run alone with `npx tsx bench/p2p.ts [--size-mb N] [--dht-nodes N]`.
import '../sidecar/polyfills.js';
import { noise } from '@chainsafe/libp2p-noise';
import { yamux } from '@chainsafe/libp2p-yamux';
import { generateKeyPair } from '@libp2p/crypto/keys';
import { tcp } from '@libp2p/tcp';
import { multiaddr } from '@multiformats/multiaddr';
import { createLibp2p } from 'libp2p';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { buildCliBundle } from '../scripts/build-sidecar.js';
import { MAX_STREAM_WINDOW } from '../sidecar/node/constants.js';
import { createSidecarNode, type SidecarLibp2p } from '../sidecar/node/create-node.js';
import { parseDigest } from '../workers/shared/oci/index.js';
import { DhtRouter } from '../sidecar/node/routing.js';
import { StreamReader } from '../sidecar/p2p/stream-io.js';
import { rawTcpSeconds, spawnSender } from './raw-tcp.js';
import { makeBlobFile, makeTempDir, putBlobFile, removeDir, rssOf, startSidecar, stopAll, waitFor, type SidecarProcess } from '../test/helpers/sidecar-cluster.js';
import { median } from './median.js';
import { ticksOf, TICKS_PER_SECOND } from './lan-burst-cpu.js';
import { fillFanOut, type FillFanOutFigures } from './p2p-fill-fanout.js';
import { SOURCE_HEADER } from '../workers/shared/http/headers.js';

const MB = 1024 * 1024;
/** How fast the fan-out figure's edge feeds the filling sidecar: a fast WAN link, slower than the LAN. */
const FAN_OUT_EDGE_MBPS = 100;

export interface P2pBenchOptions {
  /** Blob size for the throughput comparison and the RSS figure (default 1 GiB). */
  sizeBytes?: number;
  /** Blob size of each interleaved throughput round (default 256 MiB) and how many rounds (default 3). */
  roundBytes?: number;
  rounds?: number;
  dhtNodes?: number;
  dhtSamples?: number;
  log?: (line: string) => void;
}

export interface P2pBenchFigures {
  sizeBytes: number;
  roundBytes: number;
  rounds: number;
  /** Medians of the interleaved rounds; ratios are of medians. */
  rawTcpMBps: number;
  rawLibp2pMBps: number;
  sidecarP2pMBps: number;
  /** Core milliseconds per MB (10^6 bytes) of the rounds, median: the sender's, and the receiver's (which streams the blob on to its client over HTTP). */
  sidecarP2pCpuMsPerMB: { send: number; receive: number };
  sidecarVsLibp2p: number;
  sidecarVsTcp: number;
  libp2pVsTcp: number;
  bestOf: { rawTcpMBps: number; rawLibp2pMBps: number; sidecarP2pMBps: number };
  perRound: { rawTcpMBps: number[]; rawLibp2pMBps: number[]; sidecarP2pMBps: number[] };
  /** The big blob (sizeBytes) moved sidecar to sidecar while RSS was sampled. */
  bigBlobP2pMBps: number;
  sidecarBridgeServeMBps: number;
  /** A sidecar at rest, run through tsx (bin/fastreg.js) and as the esbuild bundle used for the figures. */
  idleRssTsxMB: number;
  idleRssBundleMB: number;
  senderPeakRssMB: number;
  receiverPeakRssMB: number;
  dht: { nodes: number; mode: 'in-process'; provideMs: Stats; findFirstProviderMs: Stats; putMs: Stats; getMs: Stats };
  /** Issue 11: RSS of a sidecar streaming a filling blob (sizeBytes) to 5 peers and 5 HTTP clients. */
  fillFanOut?: FillFanOutFigures;
}

interface Stats {
  median: number;
  p90: number;
  max: number;
}

function stats(values: number[]): Stats {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number) => Math.round(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0);
  return { median: at(0.5), p90: at(0.9), max: Math.round(sorted[sorted.length - 1] ?? 0) };
}

async function rawLibp2p(size: number): Promise<number> {
  const { child, info } = await spawnSender('libp2p', size);
  const node = await createLibp2p({
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux({ streamOptions: { maxStreamWindowSize: MAX_STREAM_WINDOW } })],
  });
  try {
    const started = performance.now();
    const stream = await node.dialProtocol(multiaddr(info.addr!), '/fastreg-bench/1.0.0');
    const reader = new StreamReader(stream);
    let received = 0;
    for (let chunk = await reader.read(); chunk; chunk = await reader.read()) received += chunk.byteLength;
    if (received !== size) throw new Error(`raw libp2p got ${received} of ${size}`);
    return size / MB / ((performance.now() - started) / 1000);
  } finally {
    await node.stop();
    child.kill('SIGTERM');
  }
}

/** Idle RSS of a sidecar run from the TypeScript sources (tsx) and from the esbuild bundle. */
async function idleRss(bundle: string): Promise<{ tsxMB: number; bundleMB: number }> {
  const nodes = await Promise.all([startSidecar({ name: 'idle-tsx', entry: 'cli' }), startSidecar({ name: 'idle-bundle', entry: bundle as `${string}.mjs` })]);
  try {
    await new Promise((r) => setTimeout(r, 3_000));
    return { tsxMB: Math.round(nodes[0].rssBytes() / MB), bundleMB: Math.round(nodes[1].rssBytes() / MB) };
  } finally {
    await stopAll(nodes);
    await Promise.all(nodes.map((n) => removeDir(n.dir)));
  }
}

interface PairResult {
  roundsMBps: number[];
  bigMBps: number;
  serveMBps: number;
  senderPeakRssMB: number;
  receiverPeakRssMB: number;
}

/**
 * Two sidecars (the bundled production CLI). `measureRound` moves one small blob per call for the
 * interleaved throughput rounds; then one big blob moves while RSS is sampled.
 */
async function withSidecarPair<T>(fn: (pair: { sender: SidecarProcess; receiver: SidecarProcess; work: string }) => Promise<T>, bundle: string): Promise<T> {
  const work = await makeTempDir('bench-p2p');
  const nodes: SidecarProcess[] = [];
  const entry = bundle as `${string}.mjs`;
  try {
    nodes.push(await startSidecar({ name: 'sender', entry, args: ['--capacity', '100GiB'] }));
    nodes.push(await startSidecar({ name: 'receiver', entry, bootstrap: [nodes[0]!.addr], args: ['--capacity', '100GiB'] }));
    return await fn({ sender: nodes[0]!, receiver: nodes[1]!, work });
  } finally {
    await stopAll(nodes);
    await Promise.all([removeDir(work), ...nodes.map((n) => removeDir(n.dir))]);
  }
}

async function seed(sender: SidecarProcess, receiver: SidecarProcess, blob: { path: string; digest: string }): Promise<void> {
  const put = await putBlobFile(sender.url, blob.digest, blob.path);
  if (put.status !== 201) throw new Error(`PUT failed: ${put.status} ${put.body}`);
  await waitFor(async () => {
    const body = (await (await fetch(`${receiver.url}/providers/${blob.digest}`)).json()) as { providers: unknown[] };
    return body.providers.length > 0;
  }, { timeoutMs: 20_000, what: 'provider record' });
}

interface RoundCpu {
  sendMsPerMB: number;
  receiveMsPerMB: number;
}

/** `move`, and what it cost each sidecar's process in CPU per MB of `size` (/proc ticks). */
async function withCpu<T>(sender: SidecarProcess, receiver: SidecarProcess, size: number, move: () => Promise<T>): Promise<{ result: T; cpu: RoundCpu }> {
  const ticks = () => [sender, receiver].map((s) => ticksOf([s.child.pid as number]));
  const before = ticks();
  const result = await move();
  const [send, receive] = ticks().map((after, i) => ((after - before[i]!) / TICKS_PER_SECOND) * 1000 / (size / 1e6)) as [number, number];
  return { result, cpu: { sendMsPerMB: send, receiveMsPerMB: receive } };
}

/**
 * A GET makes the receiver fetch the blob over P2P while it streams it on (lookup + transfer +
 * verify, whose last bytes come only after the digest check); the body is counted and dropped.
 */
async function p2pFetch(receiver: SidecarProcess, digest: string, size: number): Promise<number> {
  const started = performance.now();
  const response = await fetch(`${receiver.url}/blobs/${digest}`);
  if (response.status !== 200 || response.headers.get(SOURCE_HEADER) !== 'p2p') throw new Error(`GET gave ${response.status} from ${response.headers.get(SOURCE_HEADER)}`);
  let received = 0;
  for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) received += chunk.byteLength;
  if (received !== size) throw new Error(`receiver streamed ${received} of ${size} bytes`);
  const seconds = (performance.now() - started) / 1000;
  return size / MB / seconds;
}

async function bigMove(sender: SidecarProcess, receiver: SidecarProcess, work: string, size: number, log: (line: string) => void) {
  log(`writing a ${Math.round(size / MB)} MiB blob`);
  const blob = await makeBlobFile(work, size);
  await seed(sender, receiver, blob);
  const peaks = { sender: sender.rssBytes(), receiver: receiver.rssBytes() };
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      peaks.sender = Math.max(peaks.sender, sender.rssBytes());
      peaks.receiver = Math.max(peaks.receiver, receiver.rssBytes());
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
  const mbps = await p2pFetch(receiver, blob.digest, size).finally(() => (sampling = false));
  await sampler;
  // Then the bridge serving the stored blob to a local client.
  const serveStart = performance.now();
  const response = await fetch(`${receiver.url}/blobs/${blob.digest}`);
  let served = 0;
  for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) served += chunk.byteLength;
  if (served !== size) throw new Error(`bridge served ${served} of ${size}`);
  return {
    bigMBps: mbps,
    serveMBps: size / MB / ((performance.now() - serveStart) / 1000),
    senderPeakRssMB: Math.round(peaks.sender / MB),
    receiverPeakRssMB: Math.round(peaks.receiver / MB),
  };
}

async function dhtLatency(count: number, samples: number) {
  const nodes: SidecarLibp2p[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const node = await createSidecarNode({ privateKey: await generateKeyPair('Ed25519'), listen: ['/ip4/127.0.0.1/tcp/0'] });
      nodes.push(node);
    }
    // Ring plus a few chords, then let the routing tables fill.
    await Promise.all(nodes.map((node, i) => Promise.all([1, 2, 5].map((step) => node.dial(nodes[(i + step) % count]!.getMultiaddrs()[0]!).catch(() => undefined)))));
    await new Promise((r) => setTimeout(r, 2_000));
    const provideMs: number[] = [];
    const findMs: number[] = [];
    const putMs: number[] = [];
    const getMs: number[] = [];
    for (let s = 0; s < samples; s++) {
      const provider = nodes[(s * 7) % count]!;
      const seeker = nodes[(s * 7 + count / 2) % count]!;
      const digest = parseDigest(`sha256:${Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString('hex')}`);
      let t = performance.now();
      await new DhtRouter(provider).provide(digest);
      provideMs.push(performance.now() - t);
      t = performance.now();
      const found = await new DhtRouter(seeker).findProviders(digest, { limit: 1, timeoutMs: 10_000 });
      if (found.length > 0) findMs.push(performance.now() - t);
      t = performance.now();
      await new DhtRouter(provider).putValue(`bench/${s}`, `value-${s}`);
      putMs.push(performance.now() - t);
      t = performance.now();
      const value = await new DhtRouter(seeker).getValue(`bench/${s}`);
      if (value?.value === `value-${s}`) getMs.push(performance.now() - t);
    }
    return { provideMs: stats(provideMs), findFirstProviderMs: stats(findMs), putMs: stats(putMs), getMs: stats(getMs), found: findMs.length, got: getMs.length };
  } finally {
    await Promise.all(nodes.map((node) => node.stop()));
  }
}

export async function runP2pBench(options: P2pBenchOptions = {}): Promise<P2pBenchFigures> {
  const size = options.sizeBytes ?? 1024 * MB;
  const roundSize = options.roundBytes ?? 256 * MB;
  const rounds = options.rounds ?? 3;
  const log = options.log ?? ((line: string) => process.stderr.write(`[p2p bench] ${line}\n`));
  const bundleDir = await makeTempDir('bench-bundle');
  try {
    const bundle = await buildCliBundle(join(bundleDir, 'fastreg.mjs'));
    log('sidecar idle RSS (tsx vs bundle)');
    const idle = await idleRss(bundle);
    const tcpRounds: number[] = [];
    const libp2pRounds: number[] = [];
    const sidecarRounds: number[] = [];
    const roundsCpu: RoundCpu[] = [];
    const roundsMBps = await withSidecarPair(async ({ sender, receiver, work }) => {
      const blobs = [];
      for (let r = 0; r < rounds; r++) {
        const blob = await makeBlobFile(work, roundSize);
        await seed(sender, receiver, blob);
        blobs.push(blob);
      }
      // Interleaved rounds: this machine is shared, so the three figures see the same noise.
      for (let r = 0; r < rounds; r++) {
        log(`round ${r + 1}/${rounds}: raw TCP, raw noise+yamux, sidecar P2P (${Math.round(roundSize / MB)} MiB each)`);
        tcpRounds.push(roundSize / MB / (await rawTcpSeconds(roundSize)));
        libp2pRounds.push(await rawLibp2p(roundSize));
        const digest = blobs[r]!.digest;
        const round = await withCpu(sender, receiver, roundSize, () => p2pFetch(receiver, digest, roundSize));
        sidecarRounds.push(round.result);
        roundsCpu.push(round.cpu);
      }
      return sidecarRounds;
    }, bundle);
    // A fresh pair for the big move, so its RSS is not the leftover of the rounds above.
    log(`sidecar RSS while moving ${Math.round(size / MB)} MiB (fresh pair)`);
    const big = await withSidecarPair(({ sender, receiver, work }) => bigMove(sender, receiver, work, size, log), bundle);
    const pair: PairResult = { roundsMBps, ...big };
    log(`sidecar RSS while its filling ${Math.round(size / MB)} MiB blob is read by 5 peers and 5 HTTP clients`);
    const fanOut = await fillFanOut({ sizeBytes: size, edgeMBps: FAN_OUT_EDGE_MBPS, bundle, log });
    const dhtNodes = options.dhtNodes ?? 20;
    log(`DHT with ${dhtNodes} in-process nodes`);
    const dht = await dhtLatency(dhtNodes, options.dhtSamples ?? 10);
    const best = (values: number[]) => Math.max(...values);
    const round2 = (n: number) => Math.round(n * 100) / 100;
    const tcp = median(tcpRounds);
    const lp = median(libp2pRounds);
    const sc = median(pair.roundsMBps);
    return {
      sizeBytes: size,
      roundBytes: roundSize,
      rounds,
      rawTcpMBps: Math.round(tcp),
      rawLibp2pMBps: Math.round(lp),
      sidecarP2pMBps: Math.round(sc),
      sidecarP2pCpuMsPerMB: { send: round2(median(roundsCpu.map((c) => c.sendMsPerMB))), receive: round2(median(roundsCpu.map((c) => c.receiveMsPerMB))) },
      sidecarVsLibp2p: round2(sc / lp),
      sidecarVsTcp: round2(sc / tcp),
      libp2pVsTcp: round2(lp / tcp),
      bestOf: { rawTcpMBps: Math.round(best(tcpRounds)), rawLibp2pMBps: Math.round(best(libp2pRounds)), sidecarP2pMBps: Math.round(best(pair.roundsMBps)) },
      perRound: { rawTcpMBps: tcpRounds.map(Math.round), rawLibp2pMBps: libp2pRounds.map(Math.round), sidecarP2pMBps: pair.roundsMBps.map(Math.round) },
      bigBlobP2pMBps: Math.round(pair.bigMBps),
      sidecarBridgeServeMBps: Math.round(pair.serveMBps),
      idleRssTsxMB: idle.tsxMB,
      idleRssBundleMB: idle.bundleMB,
      senderPeakRssMB: pair.senderPeakRssMB,
      receiverPeakRssMB: pair.receiverPeakRssMB,
      dht: { nodes: dhtNodes, mode: 'in-process', provideMs: dht.provideMs, findFirstProviderMs: dht.findFirstProviderMs, putMs: dht.putMs, getMs: dht.getMs },
      fillFanOut: fanOut,
    };
  } finally {
    await removeDir(bundleDir);
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const arg = (name: string) => {
    const index = process.argv.indexOf(name);
    return index > 0 ? Number(process.argv[index + 1]) : undefined;
  };
  const sizeMb = arg('--size-mb');
  const roundMb = arg('--round-mb');
  const figures = await runP2pBench({ sizeBytes: sizeMb ? sizeMb * MB : undefined, roundBytes: roundMb ? roundMb * MB : undefined, rounds: arg('--rounds'), dhtNodes: arg('--dht-nodes') });
  process.stdout.write(`${JSON.stringify(figures, null, 2)}\n`);
  process.exit(0);
}
