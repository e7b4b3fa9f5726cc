// Real sidecars in separate processes on loopback: mesh, P2P transfer, faults, KV, PSK, restart,
// bad input. One cluster is shared by the tests in order, to keep the file within a few minutes.
import { execFile } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeNewSwarmKey } from '../../sidecar/node/swarm-key.js';
import { getFrom } from '../helpers/lan-hosts.js';
import {
  TEST_TOKEN,
  hashGet,
  makeBlobFile,
  makeTempDir,
  putBlobFile,
  removeDir,
  sleepMs,
  startSidecar,
  stopAll,
  waitFor,
  type SidecarProcess,
} from '../helpers/sidecar-cluster.js';

const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '../..');
const MB = 1024 * 1024;

const all: SidecarProcess[] = [];
async function start(options: Parameters<typeof startSidecar>[0]): Promise<SidecarProcess> {
  const node = await startSidecar(options);
  all.push(node);
  return node;
}

async function peersOf(node: SidecarProcess): Promise<string[]> {
  const body = (await (await fetch(`${node.url}/peers`)).json()) as { peers: { peerId: string }[] };
  return body.peers.map((p) => p.peerId);
}

async function providersOf(node: SidecarProcess, digest: string): Promise<string[]> {
  const body = (await (await fetch(`${node.url}/providers/${digest}`)).json()) as { providers: { peerId: string }[] };
  return body.providers.map((p) => p.peerId);
}

async function storedBlobs(node: SidecarProcess): Promise<number> {
  const body = (await (await fetch(`${node.url}/healthz`)).json()) as { store: { count: number } };
  return body.store.count;
}

function fastreg(args: string[], env: Record<string, string> = {}) {
  return run(process.execPath, [join(ROOT, 'bin/fastreg.js'), ...args], { cwd: ROOT, env: { ...process.env, ...env }, timeout: 60_000 });
}

let work: string;
const nodes: SidecarProcess[] = [];
let big: { path: string; digest: string; size: number };

beforeAll(async () => {
  work = await makeTempDir('cluster');
  big = await makeBlobFile(work, 200 * MB);
  // Chain bootstrapping: each node knows only the one before it.
  for (let i = 0; i < 5; i++) {
    nodes.push(await start({ name: `n${i}`, bootstrap: i === 0 ? [] : [nodes[i - 1]!.addr] }));
  }
});

afterAll(async () => {
  await stopAll(all);
  await removeDir(work);
  await Promise.all(all.map((node) => removeDir(node.dir)));
});

describe('sidecar cluster (separate processes on loopback)', () => {
  it('5 chain-bootstrapped nodes form a mesh: each lists at least 3 peers', async () => {
    await waitFor(async () => (await Promise.all(nodes.map(peersOf))).every((peers) => peers.length >= 3), {
      timeoutMs: 45_000,
      intervalMs: 500,
      what: 'every node to list >= 3 peers',
    });
    const health = (await (await fetch(`${nodes[0]!.url}/healthz`)).json()) as { peerId: string; addrs: string[] };
    expect(health.peerId).toBe(nodes[0]!.peerId);
    expect(health.addrs.some((addr) => addr.endsWith(`/p2p/${nodes[0]!.peerId}`))).toBe(true);
  });

  it('provide then find: a blob put on n0 is found as provided by n0 from n4', async () => {
    const small = await makeBlobFile(work, 64 * 1024);
    expect((await putBlobFile(nodes[0]!.url, small.digest, small.path)).status).toBe(201);
    await waitFor(async () => (await providersOf(nodes[4]!, small.digest)).includes(nodes[0]!.peerId), {
      timeoutMs: 15_000,
      what: 'n4 to find n0 as provider',
    });
  });

  it('moves a 200 MB blob: PUT into n0, GET through n4 bridge, digest checked', async () => {
    const put = await putBlobFile(nodes[0]!.url, big.digest, big.path);
    expect(put.status).toBe(201);
    await waitFor(async () => (await providersOf(nodes[4]!, big.digest)).includes(nodes[0]!.peerId), { timeoutMs: 15_000, what: 'provider record' });
    const started = Date.now();
    const got = await hashGet(`${nodes[4]!.url}/v2/library/test/blobs/${big.digest}`);
    const seconds = (Date.now() - started) / 1000;
    expect(got.status).toBe(200);
    expect(got.bytes).toBe(big.size);
    expect(got.digest).toBe(big.digest);
    expect(got.headers['content-type']).toBe('application/octet-stream');
    expect(got.headers['docker-content-digest']).toBe(big.digest);
    expect(got.headers['x-fastreg-source']).toBe('p2p');
    expect(await nodes[4]!.metric('fastreg_sidecar_p2p_bytes_in_total')).toBe(big.size);
    console.log(`200 MB n0 -> n4 via bridge: ${(big.size / MB / seconds).toFixed(0)} MB/s`);
    // A second GET is served locally, with a Range.
    const ranged = await fetch(`${nodes[4]!.url}/v2/library/test/blobs/${big.digest}`, { headers: { Range: 'bytes=100-199' } });
    expect(ranged.status).toBe(206);
    expect(ranged.headers.get('content-range')).toBe(`bytes 100-199/${big.size}`);
    expect((await ranged.arrayBuffer()).byteLength).toBe(100);
    expect(ranged.headers.get('x-fastreg-source')).toBe('local');
  });

  it('a slow receiver keeps both sender and receiver memory bounded', async () => {
    const slow = await start({ name: 'slow', bootstrap: [nodes[2]!.addr], env: { FASTREG_TEST_RECEIVE_BPS: String(50 * MB) } });
    await waitFor(async () => (await providersOf(slow, big.digest)).length >= 2, { timeoutMs: 15_000, what: 'slow node to see providers' });
    const watched = [slow, ...nodes];
    const baseline = watched.map((node) => node.rssBytes());
    const peak = [...baseline];
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        watched.forEach((node, i) => (peak[i] = Math.max(peak[i]!, node.rssBytes())));
        await sleepMs(100);
      }
    })();
    const started = Date.now();
    const got = await hashGet(`${slow.url}/blobs/${big.digest}`);
    sampling = false;
    await sampler;
    expect(got.digest).toBe(big.digest);
    const seconds = (Date.now() - started) / 1000;
    // 200 MB at 50 MB/s: without backpressure the sender would have pushed most of it into the
    // receiver's memory within the first second.
    expect(seconds).toBeGreaterThan(3);
    const growth = watched.map((node, i) => ({ node: node.name, baselineMB: Math.round(baseline[i]! / MB), growthMB: Math.round((peak[i]! - baseline[i]!) / MB) }));
    console.log('RSS during slow 200 MB transfer', JSON.stringify(growth));
    for (const entry of growth) expect(entry.growthMB, `${entry.node} RSS growth`).toBeLessThan(80);
  });

  it('a corrupt sender is rejected and avoided; the right bytes come from another provider', async () => {
    const corrupt = await start({ name: 'corrupt', bootstrap: [nodes[1]!.addr], env: { FASTREG_TEST_CORRUPT_SERVE: '1' } });
    const blob = await makeBlobFile(work, 5 * MB);
    expect((await putBlobFile(corrupt.url, blob.digest, blob.path)).status).toBe(201);
    const receiver = nodes[3]!;
    await waitFor(async () => (await providersOf(receiver, blob.digest)).includes(corrupt.peerId), { timeoutMs: 15_000, what: 'corrupt provider listed' });
    const storedBefore = await storedBlobs(receiver);
    // The receiver streams the bytes on as they come, but holds back the last ones until the digest
    // check, which fails: the client's response is cut, never completed.
    await expect(getFrom('127.0.0.1', `${receiver.url}/blobs/${blob.digest}`, { timeoutMs: 30_000 })).rejects.toThrow(/aborted|socket hang up|ECONNRESET/);
    await waitFor(async () => (await receiver.metric('fastreg_sidecar_digest_failures_total')) === 1, { timeoutMs: 5_000, what: 'the digest failure to be counted' });
    expect(await storedBlobs(receiver)).toBe(storedBefore);
    expect((await readdir(join(receiver.dir, 'blobs', 'sha256'))).filter((name) => name.includes(blob.digest.slice(7)))).toEqual([]);
    // An honest provider appears; the corrupt one stays listed but is skipped.
    expect((await putBlobFile(nodes[1]!.url, blob.digest, blob.path)).status).toBe(201);
    await waitFor(async () => (await providersOf(receiver, blob.digest)).includes(nodes[1]!.peerId), { timeoutMs: 15_000, what: 'honest provider listed' });
    const second = await hashGet(`${receiver.url}/blobs/${blob.digest}`);
    expect(second.status).toBe(200);
    expect(second.digest).toBe(blob.digest);
    expect(await receiver.metric('fastreg_sidecar_digest_failures_total')).toBe(1);
    expect(await corrupt.metric('fastreg_sidecar_p2p_bytes_out_total')).toBe(blob.size);
  });

  it('a provider killed mid-transfer: the transfer resumes from another provider by offset', async () => {
    const blob = await makeBlobFile(work, 60 * MB);
    const slowEnv = { FASTREG_TEST_SERVE_BPS: String(20 * MB) };
    const [s1, s2] = await Promise.all([
      start({ name: 's1', bootstrap: [nodes[0]!.addr], env: slowEnv }),
      start({ name: 's2', bootstrap: [nodes[4]!.addr], env: slowEnv }),
    ]);
    await Promise.all([putBlobFile(s1!.url, blob.digest, blob.path), putBlobFile(s2!.url, blob.digest, blob.path)]);
    const receiver = nodes[2]!;
    await waitFor(async () => (await providersOf(receiver, blob.digest)).filter((id) => id === s1!.peerId || id === s2!.peerId).length === 2, {
      timeoutMs: 15_000,
      what: 'both providers listed',
    });
    const bytesBefore = await receiver.metric('fastreg_sidecar_p2p_bytes_in_total');
    const transfer = hashGet(`${receiver.url}/blobs/${blob.digest}`);
    let victim: SidecarProcess | undefined;
    await waitFor(
      async () => {
        for (const candidate of [s1!, s2!]) {
          if ((await candidate.metric('fastreg_sidecar_p2p_bytes_out_total')) > 10 * MB) victim = candidate;
        }
        return victim !== undefined;
      },
      { timeoutMs: 20_000, intervalMs: 100, what: 'a provider to be mid-transfer' },
    );
    await victim!.kill();
    const got = await transfer;
    if (got.status !== 200) console.log(receiver.output().slice(-3000));
    expect(got.status).toBe(200);
    expect(got.digest).toBe(blob.digest);
    expect(await receiver.metric('fastreg_sidecar_transfer_resumes_total')).toBeGreaterThanOrEqual(1);
    // Resumed by offset: the receiver took in the blob once, not once plus the part before the cut.
    const received = (await receiver.metric('fastreg_sidecar_p2p_bytes_in_total')) - bytesBefore;
    expect(received).toBe(blob.size);
  });

  it('a stalled provider is cut after --peer-idle-timeout instead of hanging the download', async () => {
    const blob = await makeBlobFile(work, 2 * MB);
    // 4 KB/s: the first 64 KiB chunk waits ~16 s, far past the receiver's 1 s idle limit.
    const stalled = await start({ name: 'stalled', bootstrap: [nodes[0]!.addr], env: { FASTREG_TEST_SERVE_BPS: '4096' } });
    const receiver = await start({ name: 'impatient', bootstrap: [nodes[4]!.addr], args: ['--peer-idle-timeout', '1000'] });
    expect((await putBlobFile(stalled.url, blob.digest, blob.path)).status).toBe(201);
    await waitFor(async () => (await providersOf(receiver, blob.digest)).includes(stalled.peerId), { timeoutMs: 15_000, what: 'stalled provider listed' });
    // The stalled provider's header arrives, so the client gets a 200 and then a cut response, not a hang.
    await expect(getFrom('127.0.0.1', `${receiver.url}/blobs/${blob.digest}`, { timeoutMs: 12_000 })).rejects.toThrow(/aborted|socket hang up|ECONNRESET/);
    expect(receiver.output()).toMatch(/no bytes moved for 1000 ms/);
    // With an honest provider as well, the download completes whichever provider is tried first.
    expect((await putBlobFile(nodes[2]!.url, blob.digest, blob.path)).status).toBe(201);
    await waitFor(async () => (await providersOf(receiver, blob.digest)).includes(nodes[2]!.peerId), { timeoutMs: 15_000, what: 'honest provider listed' });
    const got = await hashGet(`${receiver.url}/blobs/${blob.digest}`);
    expect(got.status).toBe(200);
    expect(got.digest).toBe(blob.digest);
  });

  it('the mesh holds without the bootstrap node', async () => {
    await nodes[0]!.stop();
    const blob = await makeBlobFile(work, 256 * 1024);
    expect((await putBlobFile(nodes[4]!.url, blob.digest, blob.path)).status).toBe(201);
    await waitFor(async () => (await providersOf(nodes[1]!, blob.digest)).includes(nodes[4]!.peerId), { timeoutMs: 15_000, what: 'n1 finds n4' });
    const got = await hashGet(`${nodes[1]!.url}/blobs/${blob.digest}`);
    expect(got.digest).toBe(blob.digest);
    for (const node of nodes.slice(1)) expect((await peersOf(node)).length).toBeGreaterThanOrEqual(2);
  });

  it('fastreg kv put/get: a value stays readable after its writer stops', async () => {
    const env = { FASTREG_SIDECAR: nodes[1]!.url, FASTREG_TOKEN: TEST_TOKEN };
    const put = await fastreg(['kv', 'put', 'team/cache-key', 'value-42'], env);
    expect(put.stdout).toMatch(/stored team\/cache-key/);
    await expect(fastreg(['kv', 'put', 'team/x', 'v'], { FASTREG_SIDECAR: nodes[1]!.url, FASTREG_TOKEN: '' })).rejects.toMatchObject({ code: 2 });
    await nodes[1]!.stop();
    const got = await fastreg(['kv', 'get', 'team/cache-key'], { FASTREG_SIDECAR: nodes[3]!.url });
    expect(got.stdout.trim()).toBe('value-42');
    // Newest write wins.
    await fastreg(['kv', 'put', 'team/cache-key', 'value-43'], { ...env, FASTREG_SIDECAR: nodes[2]!.url });
    const newer = await fastreg(['kv', 'get', '--json', 'team/cache-key'], { FASTREG_SIDECAR: nodes[4]!.url });
    expect(JSON.parse(newer.stdout)).toMatchObject({ key: 'team/cache-key', value: 'value-43' });
    await expect(fastreg(['kv', 'get', 'team/missing'], { FASTREG_SIDECAR: nodes[4]!.url })).rejects.toMatchObject({ code: 3 });
  });

  it('a restart keeps the peer ID and the blobs', async () => {
    const old = nodes[4]!;
    await old.stop();
    const again = await start({ name: 'n4-again', dir: old.dir, bootstrap: [nodes[3]!.addr] });
    expect(again.peerId).toBe(old.peerId);
    const got = await hashGet(`${again.url}/blobs/${big.digest}`);
    expect(got.digest).toBe(big.digest);
    expect(got.headers['x-fastreg-source']).toBe('local');
    nodes[4] = again;
  });

  it('nodes with a different PSK cannot connect; the same PSK can', async () => {
    const dir = await makeTempDir('psk');
    await writeNewSwarmKey(join(dir, 'a.key'));
    await writeNewSwarmKey(join(dir, 'b.key'));
    const p1 = await start({ name: 'p1', args: ['--psk-file', join(dir, 'a.key'), '--service', 'private'] });
    const [p2, p3] = await Promise.all([
      start({ name: 'p2', bootstrap: [p1.addr], args: ['--psk-file', join(dir, 'b.key'), '--service', 'private'] }),
      start({ name: 'p3', bootstrap: [p1.addr], args: ['--psk-file', join(dir, 'a.key'), '--service', 'private'] }),
    ]);
    await waitFor(async () => (await peersOf(p3)).includes(p1.peerId), { timeoutMs: 15_000, what: 'same-PSK peers to connect' });
    await sleepMs(2_000);
    expect(await peersOf(p2)).toEqual([]);
    expect(await peersOf(p1)).not.toContain(p2.peerId);
    await stopAll([p1, p2, p3]);
    await removeDir(dir);
  });

  it('bad input on the bridge gets 4xx OCI errors and stores nothing', async () => {
    const node = nodes[3]!;
    const code = async (response: Response) => ((await response.json()) as { errors: { code: string }[] }).errors[0]?.code;
    let response = await fetch(`${node.url}/blobs/sha256:abc`);
    expect(response.status).toBe(400);
    expect(await code(response)).toBe('DIGEST_INVALID');
    response = await fetch(`${node.url}/v2/Bad..Name/blobs/${big.digest}`);
    expect(response.status).toBe(400);
    expect(await code(response)).toBe('NAME_INVALID');
    response = await fetch(`${node.url}/v2/library/test/manifests/latest`);
    expect(response.status).toBe(405);
    response = await fetch(`${node.url}/blobs/${big.digest}`, { method: 'PUT', body: 'x' });
    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toMatch(/Bearer/);
    response = await fetch(`${node.url}/blobs/${big.digest}`, { method: 'PUT', body: 'x', headers: { Authorization: 'Bearer wrong-token-wrong-token' } });
    expect(response.status).toBe(401);
    const claimed = `sha256:${'0'.repeat(64)}`;
    const storedBefore = await storedBlobs(node);
    response = await fetch(`${node.url}/blobs/${claimed}`, { method: 'PUT', body: 'not those bytes', headers: { Authorization: `Bearer ${TEST_TOKEN}` } });
    expect(response.status).toBe(400);
    expect(await code(response)).toBe('DIGEST_INVALID');
    expect(await storedBlobs(node)).toBe(storedBefore);
    expect((await readdir(join(node.dir, 'blobs', 'sha256'))).filter((name) => name.startsWith('0000'))).toEqual([]);
    response = await fetch(`${node.url}/kv/bad..key`);
    expect(response.status).toBe(400);
    response = await fetch(`${node.url}/kv/ok-key`, { method: 'PUT', body: 'v' });
    expect(response.status).toBe(401);
    response = await fetch(`${node.url}/kv/ok-key`, { method: 'PUT', body: 'x'.repeat(20_000), headers: { Authorization: `Bearer ${TEST_TOKEN}` } });
    expect(response.status).toBe(413);
    response = await fetch(`${node.url}/blobs/${big.digest}`, { headers: { Range: 'bytes=999999999999-' } });
    expect(response.status).toBe(416);
    response = await fetch(`${node.url}/nope`);
    expect(response.status).toBe(404);
    expect(await code(response)).toBe('NOT_FOUND');
  });

  it('the CLI reports a bad flag clearly and has real help', async () => {
    await expect(fastreg(['sidecar', '--capacity', 'lots', '--storage-dir', work])).rejects.toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/--capacity: expected a size/),
    });
    const help = await fastreg(['sidecar', '--help']);
    expect(help.stdout).toMatch(/--bootstrap <multiaddr>[\s\S]*FASTREG_BOOTSTRAP/);
  });
});
