import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pieceBytesFor } from '../../bench/fleet/edge.js';
import type { FleetInputs, Policy } from '../../bench/fleet/inputs.js';
import { runFleet } from '../../bench/fleet/run-fleet.js';
import { allocate, Resource, type SharedFlow } from '../../bench/fleet/sharing.js';
import { DEFAULT_CALIBRATION, readCalibration } from '../../bench/fleet/calibration.js';
import { testbedInputs } from '../../bench/fleet/scenarios.js';
import { nonNegativeLeastSquares, testbedCosts, type EdgeCosts, type TestbedCosts } from '../../bench/fleet/testbed-costs.js';
import { validate, validateHeldOut, type ValidationRow } from '../../bench/fleet/validation.js';
import type { LanBurstFigures } from '../../bench/lan-burst.js';
import { REPO_ROOT } from '../../scripts/edge-launcher.js';
import { makeTempDir, removeDir } from '../helpers/sidecar-cluster.js';

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

describe('fleet model: the testbed machine', () => {
  const testbed = (cores: number, other: number, background: number): NonNullable<FleetInputs['testbed']> => ({
    cores,
    edgeServe: 0,
    edgeFill: 0,
    clientReceive: 0,
    clientReceiveFromSidecar: 0,
    clientStreamBytesPerSec: Infinity,
    sidecarBackgroundCores: background,
    otherCores: other,
  });

  it('a star bound by the machine: N served bytes at c core·s each over the cores other work and the sidecars\' background left', () => {
    const hosts = 4;
    const c = 1 / (200 * MB);
    const free = inputs(hosts, 'rendezvous', { hostNicBytesPerSec: Infinity, sidecarCosts: { p2pSend: 0, p2pReceive: 0, httpServe: c, edgeReceive: 0 }, testbed: testbed(2, 0, 0) });
    // One sidecar thread serves all N clients: it, not the 2 cores, binds.
    close(runFleet(free).max, hosts * SIZE * c);
    // 1.2 cores left: still more than the one thread.
    close(runFleet({ ...free, testbed: testbed(2, 0.5, 0.3) }).max, hosts * SIZE * c);
    // 0.2 cores left: the machine binds.
    close(runFleet({ ...free, testbed: testbed(2, 1, 0.8) }).max, (hosts * SIZE * c) / 0.2);
  });
});

const BURST_BLOB = 100 * MB;
/** Per-byte send, receive and serve costs, and the cores a sidecar uses whatever it moves. */
const COSTS: [number, number, number, number] = [8e-9, 6e-9, 2e-9, 0.004];
/** The edge's serving cost and cold first byte as the calibration gives them, and its fill per byte. */
const EDGE: EdgeCosts = { serve: 1e-9, coldFirstByteSeconds: 0.2 };
const EDGE_FILL = 5e-9;

/** LAN bursts of `hosts` hosts whose sidecars cost COSTS (times `cpuScale`), as the LAN bench records them. */
function syntheticLan(hosts: number, cpuScale = 1): LanBurstFigures {
  const blob = BURST_BLOB;
  const [send, receive, serve, load] = COSTS.map((c) => c * cpuScale) as [number, number, number, number];
  const sidecar = (out: number, inBytes: number, served: number, seconds: number) => ({
    cpuSeconds: send * out + receive * inBytes + serve * (served + (blob - inBytes)) + load * seconds,
    p2pBytesOut: out,
    p2pBytesIn: inBytes,
    servedBytes: served,
    fetches: 1,
    busyAnswers: 0,
  });
  const still = (seconds: number) => ({ ...sidecar(0, 0, 0, seconds), fetches: 0, cpuSeconds: load * seconds });
  const sample = (seconds: number, sidecars: ReturnType<typeof sidecar>[], other: number, edgeServed = blob, bench = 3 * blob * 3e-9) => ({
    seconds,
    upstreamGets: 1,
    upstreamBytes: blob,
    edgeServedBytes: edgeServed,
    redirected: 3,
    failedClients: 0,
    ...(sidecars.length ? { sidecars } : {}),
    cpu: { sidecars: 0, perSidecar: [], edge: EDGE.coldFirstByteSeconds + EDGE_FILL * cpuScale * blob + EDGE.serve * edgeServed, bench, registry: 0, other: other * seconds, otherTop: '', machineBusy: 0, machineTotal: 0 },
  });
  return {
    blobBytes: blob,
    byHosts: [
      {
        hosts,
        repeats: 1,
        variants: [
          { variant: 'rendezvous', medianSeconds: 2, samples: [sample(2, [sidecar(0, 0, 3 * blob, 2), still(2), still(2)], 0.5)] },
          { variant: 'spread', medianSeconds: 4, samples: [sample(4, [sidecar(2 * blob, 0, blob, 4), sidecar(0, blob, blob, 4), sidecar(0, blob, blob, 4)], 0.1)] },
          { variant: 'local', medianSeconds: 5, samples: [sample(5, [sidecar(blob, 0, blob, 5), sidecar(blob, blob, blob, 5), sidecar(0, blob, blob, 5)], 0.2)] },
          { variant: 'off', medianSeconds: 1.5, samples: [sample(1.5, [], 0.3, hosts * blob, 3 * blob * 1e-9)] },
        ],
      },
    ],
  } as unknown as LanBurstFigures;
}

describe('testbed costs', () => {
  it('non-negative least squares recovers exact coefficients, and drops a column that would go negative', () => {
    const x = [
      [1, 0, 2],
      [0, 1, 1],
      [3, 2, 0],
      [1, 1, 1],
    ];
    const b = [0.5, 2, 0.25];
    const y = x.map((row) => row.reduce((s, v, i) => s + v * b[i]!, 0));
    nonNegativeLeastSquares(x, y).forEach((v, i) => expect(v).toBeCloseTo(b[i]!, 9));
    // y = 2·x0 exactly, plus a column anti-correlated with the noise: its coefficient stays ≥ 0.
    const fit = nonNegativeLeastSquares(
      [
        [1, 1],
        [2, 0],
        [3, 1],
      ],
      [1.9, 4, 5.9],
    );
    expect(fit[1]).toBe(0);
    expect(fit[0]).toBeCloseTo((1.9 + 8 + 17.7) / 14, 9);
  });

  it('takes a sidecar\'s load from the sidecars that moved nothing, fits its per-byte costs over the others, and takes the clients\' and the edge\'s costs and other work per policy', () => {
    const [send, receive, serve, load] = COSTS;
    const lan = syntheticLan(3);
    const [costs] = testbedCosts(lan, 'now', EDGE);
    expect(costs!.hosts).toBe(3);
    expect(costs!.p2pSend).toBeCloseTo(send, 15);
    expect(costs!.p2pReceive).toBeCloseTo(receive, 15);
    expect(costs!.httpServe).toBeCloseTo(serve, 15);
    expect(costs!.sidecarCores).toBeCloseTo(load, 12);
    expect(costs!.clientReceiveFromSidecar).toBeCloseTo(3e-9, 15);
    expect(costs!.clientReceiveFromEdge).toBeCloseTo(1e-9, 15);
    // The edge's CPU less its first-byte wait and the bytes it served (3 blobs under off, 1 otherwise).
    expect(costs!.edgeFill).toBeCloseTo(EDGE_FILL, 15);
    expect(costs!.otherCores).toEqual({ rendezvous: 0.5, spread: expect.closeTo(0.1, 9), local: expect.closeTo(0.2, 9), off: expect.closeTo(0.3, 9) });
    expect(costs!.observations).toBe(7);
  });

  it('held out: each host count is predicted from the other host counts\' bursts only', () => {
    const three = syntheticLan(3);
    const withSix = (six: LanBurstFigures) => ({ ...three, byHosts: [...three.byHosts, ...six.byHosts] }) as LanBurstFigures;
    const cheap = withSix(syntheticLan(6));
    const dear = withSix(syntheticLan(6, 3));
    const predicted = (rows: ValidationRow[], hosts: number) => rows.filter((r) => r.hosts === hosts).map((r) => r.predictedSeconds);
    const heldOutCheap = validateHeldOut(DEFAULT_CALIBRATION, cheap);
    const heldOutDear = validateHeldOut(DEFAULT_CALIBRATION, dear);
    expect(heldOutCheap.filter((r) => r.hosts === 6).map((r) => r.fittedOn)).toEqual([[3], [3], [3], [3]]);
    // The 6-host bursts' own CPU figures do not move their held-out predictions, only the 3-host ones.
    expect(predicted(heldOutDear, 6)).toEqual(predicted(heldOutCheap, 6));
    expect(predicted(heldOutDear, 3)).not.toEqual(predicted(heldOutCheap, 3));
    // In sample, the costs are fitted over every burst, the predicted ones included.
    const inSample = (lan: LanBurstFigures) => validate({ ...DEFAULT_CALIBRATION, testbed: testbedCosts(lan, 'now', EDGE) }, lan);
    expect(predicted(inSample(dear), 6)).not.toEqual(predicted(inSample(cheap), 6));
  });

  it('charges the testbed every host\'s sidecar load with sidecars, none under off, the clients\' costs from the edge and from sidecars, and the edge\'s fill', () => {
    const costs: TestbedCosts = { hosts: 4, measuredAt: 'now', p2pSend: 3e-9, p2pReceive: 5e-9, httpServe: 1e-9, sidecarCores: 0.02, clientReceiveFromSidecar: 2e-9, clientReceiveFromEdge: 4e-9, edgeFill: 6e-9, otherCores: { spread: 0.3 }, observations: 12 };
    const cal = { ...DEFAULT_CALIBRATION, testbed: [costs] };
    expect(testbedInputs(cal, 4, 'rendezvous').testbed!.sidecarBackgroundCores).toBeCloseTo(4 * 0.02, 12);
    const spread = testbedInputs(cal, 4, 'spread');
    expect(spread.testbed!.sidecarBackgroundCores).toBeCloseTo(4 * 0.02, 12);
    expect(spread.testbed!.otherCores).toBe(0.3);
    expect(spread.sidecarCosts).toEqual({ p2pSend: 3e-9, p2pReceive: 5e-9, httpServe: 1e-9, edgeReceive: 1e-9 });
    expect([spread.testbed!.clientReceive, spread.testbed!.clientReceiveFromSidecar]).toEqual([4e-9, 2e-9]);
    const off = testbedInputs(cal, 4, 'off');
    expect(off.testbed!.sidecarBackgroundCores).toBe(0);
    expect(off.testbed!.clientReceive).toBe(4e-9);
    // The measured fill runs as fast as the edge's thread lets it: no cap at the cold-pull rate.
    expect([off.testbed!.edgeFill, off.edge.r2PutBytesPerSec]).toEqual([6e-9, Infinity]);
    // A run without an `off` burst: a client reading from the edge costs what the many-client direct rate says.
    expect(testbedInputs({ ...cal, testbed: [{ ...costs, clientReceiveFromEdge: undefined }] }, 4, 'off').testbed!.clientReceive).toBeCloseTo(1 / (DEFAULT_CALIBRATION.lanClientsMBps.value * MB), 15);
    // No costs measured for 5 hosts: two lone sidecars' costs, nothing taken from the machine.
    const other = testbedInputs(cal, 5, 'spread');
    const http = 1 / (DEFAULT_CALIBRATION.sidecarHttpMBps.value * MB);
    expect(other.sidecarCosts.p2pSend).toBeCloseTo(DEFAULT_CALIBRATION.p2pSendMsPerMB.value / 1000 / MB, 15);
    // The receiver's figure streams the blob on to its client: the serving is not counted twice.
    expect(other.sidecarCosts.p2pReceive).toBeCloseTo(DEFAULT_CALIBRATION.p2pReceiveMsPerMB.value / 1000 / MB - http, 15);
    expect(other.testbed!.sidecarBackgroundCores + other.testbed!.otherCores).toBe(0);
    const cold = DEFAULT_CALIBRATION.lanColdMBps.value * MB;
    expect([other.testbed!.edgeFill, other.edge.r2PutBytesPerSec]).toEqual([1 / cold, cold]);
  });
});

describe('calibration file', () => {
  let dir: string;
  beforeAll(async () => (dir = await makeTempDir('fleet-calibration')));
  afterAll(() => removeDir(dir));
  let files = 0;
  const written = async (content: unknown) => {
    const file = path.join(dir, `${files++}.json`);
    await writeFile(file, JSON.stringify(content));
    return file;
  };

  it('takes a figure an older version did not write from the defaults, and refuses one that is not a positive number', async () => {
    const { p2pSendMsPerMB: _, ...older } = { ...DEFAULT_CALIBRATION, r2PutMBps: { ...DEFAULT_CALIBRATION.r2PutMBps, value: 99 } };
    const read = readCalibration(await written(older));
    expect(read.r2PutMBps.value).toBe(99);
    expect(read.p2pSendMsPerMB).toEqual(DEFAULT_CALIBRATION.p2pSendMsPerMB);
    const bad = await written({ ...DEFAULT_CALIBRATION, p2pReceiveMsPerMB: { ...DEFAULT_CALIBRATION.p2pReceiveMsPerMB, value: -1 } });
    expect(() => readCalibration(bad)).toThrow(/p2pReceiveMsPerMB is not a positive number/);
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
