import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { pieceBytesFor } from '../../bench/fleet/edge.js';
import type { FleetInputs, Policy } from '../../bench/fleet/inputs.js';
import { runFleet } from '../../bench/fleet/run-fleet.js';
import { allocate, Resource, type SharedFlow } from '../../bench/fleet/sharing.js';
import { REPO_ROOT } from '../../scripts/edge-launcher.js';

// The fleet model (bench/fleet/) against cases with closed-form answers. Latencies are zero and every
// link but the hosts' NICs is unlimited, so the answer is bytes over rates plus the cut-through lag.

const MB = 1e6;
const SIZE = 1000 * MB;
const NIC = 100 * MB;
const CHUNK = 1 * MB;

function inputs(hosts: number, policy: Policy, change: Partial<FleetInputs> = {}): FleetInputs {
  return {
    sites: [{ hosts, wanBytesPerSec: Infinity, rttSeconds: 0 }],
    layers: [SIZE],
    hostNicBytesPerSec: NIC,
    hostDiskBytesPerSec: Infinity,
    edge: { perRequestBytesPerSec: Infinity, egressBytesPerSec: Infinity, r2PutBytesPerSec: Infinity, pieceMinBytes: 8 * 1024 * 1024, leaseSeconds: 0 },
    upstream: { bytesPerSec: Infinity, rttSeconds: 0 },
    policy,
    maxPeerStreams: 4,
    chunkBytes: CHUNK,
    lanRttSeconds: 0,
    dht: { provideSeconds: 0, findFirstSeconds: 0, fullQuerySeconds: 0 },
    dhtPerSite: false,
    sidecarCosts: { p2pSend: 0, p2pReceive: 0, httpServe: 0, edgeReceive: 0 },
    jitterSeconds: 0,
    seed: 1,
    ...change,
  };
}

const close = (actual: number, expected: number) => expect(Math.abs(actual - expected) / expected).toBeLessThan(0.002);

describe('fleet model: closed forms', () => {
  it('one host pulls at its NIC rate, or one piece behind a slower edge fill', () => {
    for (const policy of ['off', 'local'] as const) close(runFleet(inputs(1, policy)).max, SIZE / NIC);
    const r2 = 40 * MB;
    const slow = runFleet(inputs(1, 'off', { edge: { ...inputs(1, 'off').edge, r2PutBytesPerSec: r2 } }));
    const piece = pieceBytesFor(SIZE, 8 * 1024 * 1024);
    const lastPiece = SIZE - Math.floor(SIZE / piece) * piece || piece;
    close(slow.max, SIZE / r2 + lastPiece / NIC);
    expect(slow.upstreamBytes).toBe(SIZE);
    expect(slow.edgeBytes).toBe(SIZE);
  });

  it('a star: one sidecar serving N clients over one NIC takes (N−1)·size/NIC', () => {
    for (const hosts of [3, 8]) {
      const star = runFleet(inputs(hosts, 'rendezvous'));
      // Its own host's client reads over loopback; the others share its uplink.
      close(star.max, ((hosts - 1) * SIZE) / NIC);
      expect(star.peakStreams).toBe(hosts);
      expect(star.edgeBytes).toBe(SIZE);
      expect(star.limit).toBe('sidecar NIC');
    }
  });

  it('a tree of depth d with fan-out K takes size·K/NIC plus one chunk per level below the first', () => {
    for (const [k, depth] of [
      [2, 3],
      [4, 2],
    ] as const) {
      const hosts = (k ** (depth + 1) - 1) / (k - 1);
      const tree = runFleet(inputs(hosts, 'local', { maxPeerStreams: k }));
      expect(tree.treeDepth).toBe(depth);
      close(tree.max, (SIZE * k) / NIC + ((depth - 1) * CHUNK * k) / NIC);
      // K peers plus its own client.
      expect(tree.peakStreams).toBe(k + 1);
      expect(tree.edgeBytes).toBe(SIZE);
    }
  });

  it('off: every host at the edge, the site WAN shared by all', () => {
    const wan = 250 * MB;
    const r = runFleet(inputs(10, 'off', { sites: [{ hosts: 10, wanBytesPerSec: wan, rttSeconds: 0 }] }));
    close(r.max, (10 * SIZE) / wan);
    expect(r.edgeBytes).toBe(10 * SIZE);
    expect(r.wan[0]!.fromEdge).toBe(10 * SIZE);
    expect(r.limit).toBe('site WAN link');
  });
});

describe('fleet model: bandwidth sharing', () => {
  it('is weighted max-min fair: a capped flow leaves the rest to the others', () => {
    const link = new Resource('link', 'host-nic', 100);
    const cpu = new Resource('cpu', 'sidecar-cpu', 1);
    const capped: SharedFlow = { uses: [{ resource: link, weight: 1 }], cap: 30, rate: 0 };
    const free: SharedFlow = { uses: [{ resource: link, weight: 1 }], cap: Infinity, rate: 0 };
    allocate([capped, free]);
    expect([capped.rate, free.rate]).toEqual([30, 70]);
    // One core, costs 1/100 and 1/50 core-seconds per byte: equal rates r with r/100 + r/50 = 1.
    const a: SharedFlow = { uses: [{ resource: cpu, weight: 1 / 100 }], cap: Infinity, rate: 0 };
    const b: SharedFlow = { uses: [{ resource: cpu, weight: 1 / 50 }], cap: Infinity, rate: 0 };
    allocate([a, b]);
    expect(a.rate).toBeCloseTo(100 / 3, 6);
    expect(b.rate).toBeCloseTo(100 / 3, 6);
  });
});

describe('npm run fleet', () => {
  const run = promisify(execFile);
  const cli = (...args: string[]) => run(process.execPath, ['--import', 'tsx', path.join(REPO_ROOT, 'bench/fleet/cli.ts'), ...args], { cwd: REPO_ROOT, timeout: 60_000 });

  it('prints p50/p99/p999/max, bytes and the limit per policy as JSON; rejects a bad size', async () => {
    const { stdout } = await cli('--hosts', '20', '--sites', '2', '--layers', '100MB,50MB', '--host-rate', '1Gbit/s', '--policy', 'spread', '--json');
    const [result] = JSON.parse(stdout) as Array<Record<string, unknown>>;
    expect(Object.keys(result!)).toEqual(expect.arrayContaining(['p50', 'p99', 'p999', 'max', 'upstreamBytes', 'edgeBytes', 'limit']));
    expect(result!.upstreamBytes).toBe(150 * MB);
    // One filler per site: the edge serves each layer once per site.
    expect(result!.edgeBytes).toBe(2 * 150 * MB);
    expect(result!.p50 as number).toBeGreaterThan(0);
    await expect(cli('--hosts', '2', '--layers', '5XB', '--host-rate', '1MB/s')).rejects.toMatchObject({ code: 1, stderr: expect.stringContaining('expected a size') });
  }, 60_000);
});
