// Attacks from a peer inside the swarm against a real sidecar on loopback, each refused: a
// provider that declares a huge size gets nothing written, a provider that never answers is
// penalized after the deadline (and the fetch moves on to the edge), and DHT records dated far in
// the future or with extra fields are dropped, so they cannot win over later puts.
import { createHash, randomBytes } from 'node:crypto';
import { readdir, stat } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_KV_CLOCK_SKEW_MS } from '../../sidecar/node/kv-record.js';
import { writeChunk } from '../../sidecar/p2p/stream-io.js';
import { encodeFrame } from '../../sidecar/p2p/wire.js';
import { startRoguePeer, type RoguePeer } from '../helpers/rogue-peer.js';
import { TEST_TOKEN, hashGet, removeDir, startSidecar, stopAll, waitFor, type SidecarProcess } from '../helpers/sidecar-cluster.js';

const IDLE_TIMEOUT_MS = 2_000;

function makeBlob(size: number) {
  const bytes = randomBytes(size);
  return { bytes, digest: `sha256:${createHash('sha256').update(bytes).digest('hex')}` };
}
const lied = makeBlob(1024 * 1024);
const stalled = makeBlob(256 * 1024);
const stalledAgain = makeBlob(256 * 1024);
const byDigest = new Map([lied, stalled, stalledAgain].map((blob) => [blob.digest, blob.bytes]));

const edgeWaiters = new Map<string, () => void>();
/** Resolves when the edge gets its first GET for `digest`. */
function edgeAsked(digest: string): Promise<void> {
  return new Promise((resolve) => edgeWaiters.set(digest, resolve));
}

// The honest last resort: the edge serves every blob of library/app.
const edge = http.createServer((req, res) => {
  const digest = /^\/v2\/library\/app\/blobs\/(sha256:[a-f0-9]{64})$/.exec(req.url ?? '')?.[1];
  if (digest) edgeWaiters.get(digest)?.();
  const bytes = digest ? byDigest.get(digest) : undefined;
  if (!bytes) {
    res.writeHead(404).end();
    return;
  }
  res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': String(bytes.length) });
  res.end(bytes);
});

let rogue: RoguePeer;
let victim: SidecarProcess;

beforeAll(async () => {
  await new Promise<void>((resolve) => edge.listen(0, '127.0.0.1', resolve));
  const edgeUrl = `http://127.0.0.1:${(edge.address() as AddressInfo).port}`;
  rogue = await startRoguePeer();
  victim = await startSidecar({
    name: 'victim',
    bootstrap: [rogue.addr],
    // The fake edge has no enrollment: the victim fetches anonymously and joins an open swarm.
    env: { FASTREG_ENROLL_TOKEN: '' },
    args: ['--edge', edgeUrl, '--peer-idle-timeout', String(IDLE_TIMEOUT_MS)],
  });
  await waitFor(() => rogue.node.getConnections().some((connection) => connection.remotePeer.toString() === victim.peerId), {
    timeoutMs: 10_000,
    what: 'the victim connected to the rogue peer',
  });
});

afterAll(async () => {
  await stopAll([victim]);
  await rogue?.stop();
  if (victim) await removeDir(victim.dir);
  await new Promise((resolve) => edge.close(resolve));
});

/** Largest temp file of a write in flight seen in the victim's store until `until` settles. */
async function largestPartUntil(until: Promise<unknown>): Promise<number> {
  const dir = join(victim.dir, 'blobs', 'sha256');
  let largest = 0;
  let done = false;
  void until.finally(() => (done = true));
  while (!done) {
    for (const name of await readdir(dir).catch(() => [])) {
      if (name.endsWith('.part')) largest = Math.max(largest, (await stat(join(dir, name)).catch(() => ({ size: 0 }))).size);
    }
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  return largest;
}

/** Waits until the victim finds the rogue peer as a provider of `digest`, so the attack is really tried. */
async function announced(digest: string): Promise<void> {
  await waitFor(
    async () => {
      const body = (await (await fetch(`${victim.url}/providers/${digest}`)).json()) as { providers: { peerId: string }[] };
      return body.providers.some((provider) => provider.peerId === rogue.peerId);
    },
    { timeoutMs: 15_000, what: `the rogue peer announced as a provider of ${digest}` },
  );
}

describe('P2P bounds against a peer inside the swarm', () => {
  it('a provider declaring a huge size is refused before any byte is written; the pull gets the blob from the edge', async () => {
    let junkSent = 0;
    await rogue.offer(lied.digest, async (request, stream) => {
      await writeChunk(stream, encodeFrame({ v: 1, status: 'ok', size: 10 ** 15, offset: request.offset }));
      const junk = Buffer.alloc(256 * 1024, 0x5a);
      // 16 MiB of junk, as fast as the victim takes it.
      for (let i = 0; i < 64; i++) {
        await writeChunk(stream, junk, AbortSignal.timeout(5_000));
        junkSent += junk.length;
      }
      await stream.close();
    });
    await announced(lied.digest);
    const pull = hashGet(`${victim.url}/v2/library/app/blobs/${lied.digest}`);
    // Watched until the victim gives up on the liar and asks the edge, whose bytes then fill the temp file.
    const largest = await largestPartUntil(Promise.race([edgeAsked(lied.digest), pull]));
    const result = await pull;
    expect(rogue.requests.get(lied.digest)).toBe(1);
    expect({ status: result.status, digest: result.digest, source: result.headers['x-fastreg-source'] }).toEqual({ status: 200, digest: lied.digest, source: 'edge' });
    expect(largest).toBe(0);
    expect(await victim.metric('fastreg_sidecar_p2p_bytes_in_total')).toBe(0);
    expect(victim.output()).toMatch(/exceeds the store capacity/);
    expect(junkSent).toBeLessThan(16 * 1024 * 1024);
  });

  it('a provider that never answers is penalized after the deadline, and the fetch moves on', async () => {
    const silence = async (_request: unknown, stream: import('@libp2p/interface').Stream) => {
      await new Promise((resolve) => {
        const timer = setTimeout(resolve, 30_000);
        stream.addEventListener('close', () => {
          clearTimeout(timer);
          resolve(undefined);
        }, { once: true });
      });
    };
    await rogue.offer(stalled.digest, silence);
    await rogue.offer(stalledAgain.digest, silence);
    await announced(stalled.digest);
    await announced(stalledAgain.digest);
    const started = Date.now();
    const first = await hashGet(`${victim.url}/v2/library/app/blobs/${stalled.digest}`);
    expect({ status: first.status, digest: first.digest }).toEqual({ status: 200, digest: stalled.digest });
    expect(Date.now() - started).toBeGreaterThanOrEqual(IDLE_TIMEOUT_MS - 100);
    expect(victim.output()).toContain(`penalizing ${rogue.peerId}: ${rogue.peerId} sent no answer within ${IDLE_TIMEOUT_MS} ms`);
    // Penalized: the next blob it announces is not even asked of it.
    const second = await hashGet(`${victim.url}/v2/library/app/blobs/${stalledAgain.digest}`);
    expect({ status: second.status, digest: second.digest }).toEqual({ status: 200, digest: stalledAgain.digest });
    expect(rogue.requests.get(stalled.digest)).toBe(1);
    expect(rogue.requests.get(stalledAgain.digest)).toBeUndefined();
  });

  it('kv records dated far ahead, with extra fields or too large are dropped; a later honest put wins', async () => {
    const encode = (record: object) => new TextEncoder().encode(JSON.stringify(record));
    await rogue.putRaw('bounds/future', encode({ v: 1, seq: Number.MAX_SAFE_INTEGER, value: 'evil' }));
    // Dated a minute ahead (within the allowance), so that either would win over the honest put if taken.
    await rogue.putRaw('bounds/extra', encode({ v: 1, seq: Date.now() + 60_000, value: 'evil', padding: 'x'.repeat(1_000) }));
    // 16,000 characters but 48,000 bytes: over the 16 KiB value limit.
    await rogue.putRaw('bounds/huge', encode({ v: 1, seq: Date.now() + 60_000, value: '€'.repeat(16_000) }));
    // A record a little ahead (a clock within the allowed skew) is still taken.
    await rogue.putRaw('bounds/skewed', encode({ v: 1, seq: Date.now() + MAX_KV_CLOCK_SKEW_MS / 2, value: 'skewed but fine' }));
    const get = async (key: string) => {
      const response = await fetch(`${victim.url}/kv/${key}`);
      return { status: response.status, value: ((await response.json()) as { value?: string }).value };
    };
    for (const key of ['bounds/future', 'bounds/extra', 'bounds/huge']) {
      expect({ key, ...(await get(key)) }).toEqual({ key, status: 404, value: undefined });
      const put = await fetch(`${victim.url}/kv/${key}`, { method: 'PUT', body: 'honest', headers: { Authorization: `Bearer ${TEST_TOKEN}` } });
      expect(put.status).toBe(201);
      expect({ key, ...(await get(key)) }).toEqual({ key, status: 200, value: 'honest' });
    }
    expect(await get('bounds/skewed')).toEqual({ status: 200, value: 'skewed but fine' });
  });
});
