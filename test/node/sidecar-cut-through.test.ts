// Cut-through in the sidecar (issue 11): real sidecar processes on loopback and a fake edge in this
// process that can stall mid-blob or send corrupt bytes. Readers (HTTP clients and P2P peers) follow
// a fill as it grows; the last bytes come only after verification; a corrupt fill errors every
// stream and stores nothing; a HEAD moves no blob bytes; past --max-peer-streams, peers are sent to
// peers already receiving the blob (a tree).
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getFrom, type HostResponse } from '../helpers/lan-hosts.js';
import { removeDir, startSidecar, stopAll, waitFor, type SidecarProcess } from '../helpers/sidecar-cluster.js';

const MiB = 1024 * 1024;
const NAME = 'library/cut';

interface EdgeBlob {
  bytes: Buffer;
  /** The edge sends this many bytes, then waits for `release()`. */
  stallAt?: number;
  /** Bytes served with this offset flipped (a corrupt edge). */
  corruptAt?: number;
  /** The next GET's connection is dropped after this many bytes (once). */
  cutAt?: number;
  /** GETs get a 307 naming this peer as the site's filler, unless they say they tried it. */
  filler?: string;
  released?: Promise<void>;
  release?: () => void;
  /** Bytes of the body sent so far (last GET). */
  sent: number;
}

const blobs = new Map<string, EdgeBlob>();
const requests: { method: string; digest: string; peer?: string; range?: string; fillerFailed?: string }[] = [];

function addBlob(size: number, options: { stallAt?: number; corruptAt?: number; cutAt?: number; filler?: string } = {}): { digest: string; size: number; bytes: Buffer; entry: EdgeBlob } {
  const bytes = randomBytes(size);
  const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
  const entry: EdgeBlob = { bytes, sent: 0, ...options };
  if (options.stallAt !== undefined) {
    entry.released = new Promise<void>((resolve) => (entry.release = resolve));
  }
  blobs.set(digest, entry);
  return { digest, size, bytes, entry };
}

const edge = http.createServer((req, res) => {
  const match = /^\/v2\/.+\/blobs\/(sha256:[a-f0-9]{64})/.exec(req.url ?? '');
  const entry = match ? blobs.get(match[1]!) : undefined;
  const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
  const fillerFailed = req.headers['x-fastreg-filler-failed'] as string | undefined;
  if (match) requests.push({ method: req.method ?? '', digest: match[1]!, peer: req.headers['x-fastreg-peer'] as string | undefined, range: req.headers.range, fillerFailed });
  if (!match || !entry) {
    res.writeHead(404, { 'Content-Type': 'application/json' }).end('{"errors":[{"code":"BLOB_UNKNOWN","message":"no"}]}');
    return;
  }
  if (req.method === 'GET' && entry.filler && fillerFailed !== entry.filler) {
    res.writeHead(307, { Location: `http://127.0.0.1:9/v2/${NAME}/blobs/${match[1]}`, 'X-FastReg-Filler': entry.filler }).end();
    return;
  }
  const size = entry.bytes.length;
  const start = range ? Number(range[1]) : 0;
  if (range) res.writeHead(206, { 'Content-Type': 'application/octet-stream', 'Content-Length': String(size - start), 'Content-Range': `bytes ${start}-${size - 1}/${size}` });
  else res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': String(size) });
  if (req.method === 'HEAD') {
    res.end();
    return;
  }
  entry.sent = 0;
  let body = entry.bytes;
  if (entry.corruptAt !== undefined) {
    body = Buffer.from(entry.bytes);
    body[entry.corruptAt] = (body[entry.corruptAt] ?? 0) ^ 0xff;
  }
  const cutAt = entry.cutAt;
  delete entry.cutAt;
  void (async () => {
    const stallAt = entry.stallAt ?? body.length;
    let at = start;
    while (at < body.length) {
      if (at >= stallAt && entry.released) await entry.released;
      if (cutAt !== undefined && at >= cutAt) {
        res.destroy();
        return;
      }
      const end = Math.min(at + 256 * 1024, at < stallAt ? stallAt : body.length, cutAt !== undefined && at < cutAt ? cutAt : body.length);
      if (!res.write(body.subarray(at, end))) await new Promise((resolve) => res.once('drain', resolve));
      entry.sent += end - at;
      at = end;
    }
    res.end();
  })().catch(() => res.destroy());
});

let edgeUrl: string;
let root: SidecarProcess;
const followers: SidecarProcess[] = [];

/** A GET of the blob from a sidecar's bridge that counts bytes as they arrive; rejects if the response is cut. */
function streamingGet(node: SidecarProcess, digest: string) {
  const progress = { bytes: 0 };
  const done = getFrom('127.0.0.1', `${node.url}/v2/${NAME}/blobs/${digest}`, { timeoutMs: 60_000, onBytes: (n) => (progress.bytes += n) });
  done.catch(() => undefined);
  return { progress, done };
}

async function storeCount(node: SidecarProcess): Promise<number> {
  const body = (await (await fetch(`${node.url}/healthz`)).json()) as { store: { count: number } };
  return body.store.count;
}

async function stores(node: SidecarProcess, digest: string): Promise<boolean> {
  const body = (await (await fetch(`${node.url}/providers/${digest}`)).json()) as { providers: { self: boolean }[] };
  return body.providers.some((provider) => provider.self);
}

async function providerIds(node: SidecarProcess, digest: string): Promise<string[]> {
  const body = (await (await fetch(`${node.url}/providers/${digest}`)).json()) as { providers: { peerId: string }[] };
  return body.providers.map((provider) => provider.peerId);
}

beforeAll(async () => {
  await new Promise<void>((resolve) => edge.listen(0, '127.0.0.1', resolve));
  edgeUrl = `http://127.0.0.1:${(edge.address() as AddressInfo).port}`;
  // One peer stream per blob per sidecar, so that a few peers already go past the bound.
  const bound = ['--max-peer-streams', '1'];
  // The fake edge has no enrollment: the root fetches from it anonymously, in an open swarm.
  root = await startSidecar({ name: 'cut-root', args: ['--edge', edgeUrl, ...bound], env: { FASTREG_ENROLL_TOKEN: '' } });
  for (let i = 0; i < 3; i++) followers.push(await startSidecar({ name: `cut-f${i}`, bootstrap: [root.addr], args: bound }));
  await waitFor(
    async () => {
      for (const node of [root, ...followers]) {
        const health = (await (await fetch(`${node.url}/healthz`)).json()) as { peers: number };
        if (health.peers < 3) return false;
      }
      return true;
    },
    { timeoutMs: 30_000, intervalMs: 250, what: 'four sidecars in one mesh' },
  );
}, 120_000);

afterAll(async () => {
  await stopAll([root, ...followers]);
  await Promise.all([root, ...followers].filter(Boolean).map((node) => removeDir(node.dir)));
  edge.closeAllConnections();
  edge.close();
});

describe('a sidecar serves a blob while it fills it', () => {
  it('gives a cold blob to HTTP clients and a P2P peer before its fill completes (edge stalled mid-blob)', async () => {
    const blob = addBlob(6 * MiB, { stallAt: 3 * MiB });
    const first = streamingGet(root, blob.digest);
    const second = streamingGet(root, blob.digest);
    // The edge is stalled at half: the clients have bytes, the store has nothing yet.
    await waitFor(() => first.progress.bytes >= MiB && second.progress.bytes >= MiB, { timeoutMs: 15_000, intervalMs: 50, what: 'both clients to receive bytes while the fill is stalled' });
    // The fill from the edge is announced while it runs, so a peer finds it and follows it too.
    const follower = followers[0]!;
    await waitFor(async () => (await providerIds(follower, blob.digest)).includes(root.peerId), { timeoutMs: 15_000, what: 'the filling root to be found as provider' });
    const viaPeer = streamingGet(follower, blob.digest);
    await waitFor(() => viaPeer.progress.bytes >= MiB, { timeoutMs: 15_000, intervalMs: 50, what: 'the P2P follower to receive bytes while the fill is stalled' });
    expect(blob.entry.sent).toBe(3 * MiB);
    expect(await stores(root, blob.digest)).toBe(false);
    // Nobody has been given the last byte of what arrived: it waits for the digest check.
    for (const reader of [first, second, viaPeer]) expect(reader.progress.bytes).toBeLessThan(3 * MiB);

    blob.entry.release!();
    const results: HostResponse[] = await Promise.all([first.done, second.done, viaPeer.done]);
    for (const result of results) {
      expect(result.status).toBe(200);
      expect(result.bytes).toBe(blob.size);
      expect(result.digest).toBe(blob.digest);
    }
    expect(results[0]!.headers['x-fastreg-source']).toBe('edge');
    expect(results[2]!.headers['x-fastreg-source']).toBe('p2p');
    expect(requests.filter((r) => r.digest === blob.digest && r.method === 'GET')).toHaveLength(1);
    await waitFor(async () => (await stores(root, blob.digest)) && (await stores(follower, blob.digest)), { timeoutMs: 10_000, what: 'both stores to hold the blob' });
  });

  it('errors every stream of a corrupt fill, stores nothing, and a retry gets the right blob', async () => {
    const blob = addBlob(4 * MiB, { stallAt: 2 * MiB, corruptAt: 3 * MiB });
    const before = { root: await storeCount(root), follower: await storeCount(followers[1]!) };
    const clients = [streamingGet(root, blob.digest), streamingGet(root, blob.digest)];
    await waitFor(() => clients.every((client) => client.progress.bytes > 0), { timeoutMs: 15_000, intervalMs: 50, what: 'clients to receive bytes' });
    const follower = followers[1]!;
    await waitFor(async () => (await providerIds(follower, blob.digest)).includes(root.peerId), { timeoutMs: 15_000, what: 'the filling root to be found as provider' });
    const viaPeer = streamingGet(follower, blob.digest);
    await waitFor(() => viaPeer.progress.bytes > 0, { timeoutMs: 15_000, intervalMs: 50, what: 'the P2P follower to receive bytes' });
    blob.entry.release!();

    const outcomes = await Promise.allSettled([...clients.map((c) => c.done), viaPeer.done]);
    for (const outcome of outcomes) {
      // Cut, never a clean end: with Content-Length the client knows it did not get the blob.
      expect(outcome.status, JSON.stringify(outcome)).toBe('rejected');
    }
    for (const client of [...clients, viaPeer]) expect(client.progress.bytes).toBeLessThan(blob.size);
    expect(await storeCount(root)).toBe(before.root);
    expect(await storeCount(follower)).toBe(before.follower);
    expect(await stores(root, blob.digest)).toBe(false);
    expect(await root.metric('fastreg_sidecar_digest_failures_total')).toBeGreaterThanOrEqual(1);

    // The edge now sends the right bytes: a retry gets the blob, through the root and through the peer.
    delete blob.entry.corruptAt;
    const retry = await getFrom('127.0.0.1', `${root.url}/v2/${NAME}/blobs/${blob.digest}`, { timeoutMs: 30_000 });
    expect(retry.status).toBe(200);
    expect(retry.digest).toBe(blob.digest);
    const peerRetry = await getFrom('127.0.0.1', `${follower.url}/v2/${NAME}/blobs/${blob.digest}`, { timeoutMs: 30_000 });
    expect(peerRetry.status).toBe(200);
    expect(peerRetry.digest).toBe(blob.digest);
    expect(await stores(follower, blob.digest)).toBe(true);
  });

  it('continues a fill whose edge body was cut with a Range, so its readers are not cut', async () => {
    const blob = addBlob(3 * MiB, { cutAt: MiB + 12_345 });
    const result = await getFrom('127.0.0.1', `${root.url}/v2/${NAME}/blobs/${blob.digest}`, { timeoutMs: 30_000 });
    expect(result.status).toBe(200);
    expect(result.bytes).toBe(blob.size);
    expect(result.digest).toBe(blob.digest);
    const gets = requests.filter((r) => r.digest === blob.digest && r.method === 'GET');
    expect(gets).toHaveLength(2);
    expect(gets[0]!.range).toBeUndefined();
    // From where the first body stopped arriving (bytes still in the socket when it was dropped are lost).
    const resumedAt = Number(/^bytes=(\d+)-$/.exec(gets[1]!.range ?? '')?.[1]);
    expect(resumedAt).toBeGreaterThan(0);
    expect(resumedAt).toBeLessThanOrEqual(MiB + 12_345);
    expect(await stores(root, blob.digest)).toBe(true);
  });

  it('pointed at a filler that cannot serve it, asks the edge again saying so, and is served', async () => {
    // followers[2] is live but does not hold or fill this blob: it answers not_found.
    const blob = addBlob(MiB, { filler: followers[2]!.peerId });
    const result = await getFrom('127.0.0.1', `${root.url}/v2/${NAME}/blobs/${blob.digest}`, { timeoutMs: 30_000 });
    expect(result.status).toBe(200);
    expect(result.digest).toBe(blob.digest);
    const gets = requests.filter((r) => r.digest === blob.digest && r.method === 'GET');
    expect(gets.map((r) => r.fillerFailed)).toEqual([undefined, followers[2]!.peerId]);
    expect(gets.every((r) => r.peer === root.peerId)).toBe(true);
  });

  it('answers a HEAD of a cold blob from the edge HEAD, moving no blob bytes', async () => {
    const blob = addBlob(2 * MiB);
    const count = await storeCount(root);
    const bytesIn = await root.metric('fastreg_sidecar_p2p_bytes_in_total');
    const head = await fetch(`${root.url}/v2/${NAME}/blobs/${blob.digest}`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-length')).toBe(String(blob.size));
    expect(head.headers.get('docker-content-digest')).toBe(blob.digest);
    expect(requests.filter((r) => r.digest === blob.digest).map((r) => r.method)).toEqual(['HEAD']);
    expect(blob.entry.sent).toBe(0);
    expect(await storeCount(root)).toBe(count);
    expect(await root.metric('fastreg_sidecar_p2p_bytes_in_total')).toBe(bytesIn);
    // Unknown to the edge too: 404, not a fetch.
    const unknown = await fetch(`${root.url}/v2/${NAME}/blobs/sha256:${'0'.repeat(64)}`, { method: 'HEAD' });
    expect(unknown.status).toBe(404);
  });

  it('sends peers beyond --max-peer-streams to peers already receiving the blob, and they get the right bytes', async () => {
    const blob = addBlob(6 * MiB, { stallAt: 3 * MiB });
    const [b, c, d] = followers as [SidecarProcess, SidecarProcess, SidecarProcess];
    const busyBefore = await root.metric('fastreg_sidecar_p2p_busy_total');
    const outBefore = await root.metric('fastreg_sidecar_p2p_bytes_out_total');
    const servedBefore = await Promise.all([b, c, d].map((node) => node.metric('fastreg_sidecar_p2p_bytes_out_total')));
    const fromRoot = streamingGet(root, blob.digest);
    await waitFor(async () => (await Promise.all([b, c, d].map((node) => providerIds(node, blob.digest)))).every((ids) => ids.includes(root.peerId)), {
      timeoutMs: 15_000,
      what: 'every follower to find the filling root',
    });
    // b takes the root's one peer stream.
    const viaB = streamingGet(b, blob.digest);
    await waitFor(() => viaB.progress.bytes > 0, { timeoutMs: 15_000, intervalMs: 50, what: 'b to receive bytes from the root' });
    // c and d find only the root (followers are announced once they hold the blob) and are sent down the tree.
    const viaC = streamingGet(c, blob.digest);
    const viaD = streamingGet(d, blob.digest);
    await waitFor(() => viaC.progress.bytes > 0 && viaD.progress.bytes > 0, { timeoutMs: 20_000, intervalMs: 50, what: 'c and d to receive bytes from receiving peers' });
    blob.entry.release!();
    for (const result of await Promise.all([fromRoot.done, viaB.done, viaC.done, viaD.done])) {
      expect(result.status).toBe(200);
      expect(result.digest).toBe(blob.digest);
    }
    // The root streamed the blob to one peer only, and turned the others away with pointers.
    expect((await root.metric('fastreg_sidecar_p2p_bytes_out_total')) - outBefore).toBe(blob.size);
    expect((await root.metric('fastreg_sidecar_p2p_busy_total')) - busyBefore).toBeGreaterThanOrEqual(2);
    expect((await c.metric('fastreg_sidecar_p2p_redirects_total')) + (await d.metric('fastreg_sidecar_p2p_redirects_total'))).toBeGreaterThanOrEqual(2);
    // The tree: b passed it on to one of c/d, which passed it on to the other; nobody served it twice.
    const served = (await Promise.all([b, c, d].map((node) => node.metric('fastreg_sidecar_p2p_bytes_out_total')))).map((bytes, i) => bytes - servedBefore[i]!);
    expect(served[0]).toBe(blob.size);
    expect(served.reduce((sum, bytes) => sum + bytes, 0)).toBe(2 * blob.size);
    expect(requests.filter((r) => r.digest === blob.digest && r.method === 'GET')).toHaveLength(1);
    for (const node of [root, b, c, d]) expect(await stores(node, blob.digest)).toBe(true);
  });
});
