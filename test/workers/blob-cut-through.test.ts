import { env, SELF } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { addBlob, addFault, blobKeyOf, fakeUrl, pieceKeyOf, sha256, uniqueName, upstreamLog, waitForObject } from './registry-helpers.js';

// Cut-through at the edge: every client of a cold blob streams its pieces as the lease holder stores
// them (BLOB_PIECE_BYTES is 1 MiB in the test bindings), and a takeover continues a fill.

const MiB = 1024 * 1024;

interface Reading {
  status: number;
  contentLength: string | null;
  /** Resolves once at least `bytes` arrived (or the body ended or failed). */
  reached(bytes: number): Promise<number>;
  /** The digest of the whole body, or the error it ended with. */
  done: Promise<{ digest?: string; error?: unknown; received: number }>;
}

/** Starts a GET and reads its body in the background, bounded by `limitMs`. */
async function startReading(url: string, limitMs = 25_000): Promise<Reading> {
  const res = await SELF.fetch(url, { signal: AbortSignal.timeout(limitMs) });
  const chunks: Uint8Array[] = [];
  let received = 0;
  const waiters: { bytes: number; resolve: (n: number) => void }[] = [];
  const wake = (all: boolean) => {
    for (const waiter of [...waiters]) {
      if (!all && received < waiter.bytes) continue;
      waiters.splice(waiters.indexOf(waiter), 1);
      waiter.resolve(received);
    }
  };
  const done = (async () => {
    const reader = res.body!.getReader();
    try {
      for (;;) {
        const { done: ended, value } = await reader.read();
        if (ended) break;
        chunks.push(value);
        received += value.byteLength;
        wake(false);
      }
      const bytes = new Uint8Array(received);
      let offset = 0;
      for (const chunk of chunks) {
        bytes.set(chunk, offset);
        offset += chunk.byteLength;
      }
      return { digest: await sha256(bytes), received };
    } catch (error) {
      return { error, received };
    } finally {
      wake(true);
    }
  })();
  return {
    status: res.status,
    contentLength: res.headers.get('Content-Length'),
    reached: (bytes) => (received >= bytes ? Promise.resolve(received) : new Promise((resolve) => waiters.push({ bytes, resolve }))),
    done,
  };
}

async function fullBytes(digest: string): Promise<Uint8Array> {
  return new Uint8Array(await (await fetch(`${fakeUrl}/v2/direct/blobs/${digest}`)).arrayBuffer());
}

/** A holder that stored `pieces` (1 MiB each), announced them, then vanished without releasing its lease. */
async function deadHolder(digest: string, size: number, pieces: Uint8Array[]) {
  const lease = env.BLOB_LEASE.getByName(digest);
  const granted = await lease.acquire('dead-holder');
  if (granted.kind !== 'Granted') throw new Error(`expected a grant, got ${granted.kind}`);
  await lease.begin(granted.leaseId, digest, size, MiB);
  for (const [index, piece] of pieces.entries()) await env.BLOBS.put(pieceKeyOf(digest, index), piece);
  await lease.announce(granted.leaseId, pieces.length);
  return lease;
}

describe('cut-through edge', () => {
  it('readers get the first pieces while the upstream is stalled mid-blob; the takeover continues with a Range and everyone gets the blob', async () => {
    const name = uniqueName('stalled');
    const size = 4 * MiB + 3;
    const { digest } = await addBlob({ size });
    await addFault(`GET /v2/library/${name}/blobs/`, { kind: 'stall', afterBytes: 3 * MiB + 10 }, 1);
    const url = `http://mirror/v2/library/${name}/blobs/${digest}`;

    const readers = await Promise.all(Array.from({ length: 4 }, () => startReading(url)));
    expect(readers.map((r) => [r.status, r.contentLength])).toEqual(Array(4).fill([200, String(size)]));
    // Three whole pieces are stored before the stall: every reader gets at least two of them while
    // the blob is still being fetched (the fill is not complete, only one upstream GET so far).
    const reached = await Promise.all(readers.map((r) => r.reached(2 * MiB)));
    expect(reached.every((bytes) => bytes >= 2 * MiB && bytes < size)).toBe(true);
    expect(await env.BLOB_LEASE.getByName(digest).stats()).toMatchObject({ state: 'leased' });
    expect(await env.BLOBS.head(blobKeyOf(digest))).toBeNull();
    expect(await upstreamLog(`${name}/blobs/${digest}`, 'GET')).toHaveLength(1);

    // The stall is cut (UPSTREAM_TIMEOUT_MS), a reader takes over from the stored pieces.
    const results = await Promise.all(readers.map((r) => r.done));
    expect(results.map((r) => r.digest)).toEqual(Array(4).fill(digest));
    const gets = await upstreamLog(`${name}/blobs/${digest}`, 'GET');
    expect(gets.map((entry) => entry.range)).toEqual([undefined, `bytes=${3 * MiB}-`]);
    expect(await waitForObject(blobKeyOf(digest))).toBe(true);
  });

  it('a holder that died mid-fill: readers stream its stored pieces at once, and the takeover re-hashes them and continues with a Range', async () => {
    const name = uniqueName('dead');
    const size = 3 * MiB + 1000;
    const { digest } = await addBlob({ size });
    const bytes = await fullBytes(digest);
    const lease = await deadHolder(digest, size, [bytes.slice(0, MiB), bytes.slice(MiB, 2 * MiB)]);

    const url = `http://mirror/v2/library/${name}/blobs/${digest}`;
    const readers = await Promise.all(Array.from({ length: 3 }, () => startReading(url)));
    expect(readers.map((r) => r.contentLength)).toEqual(Array(3).fill(String(size)));
    // The stored pieces flow before the dead holder's lease has even expired.
    expect(await Promise.all(readers.map((r) => r.reached(2 * MiB)))).toEqual(Array(3).fill(2 * MiB));
    expect(await upstreamLog(`${name}/blobs/${digest}`, 'GET')).toHaveLength(0);

    const results = await Promise.all(readers.map((r) => r.done));
    expect(results.map((r) => r.digest)).toEqual(Array(3).fill(digest));
    const gets = await upstreamLog(`${name}/blobs/${digest}`, 'GET');
    expect(gets.map((entry) => entry.range)).toEqual([`bytes=${2 * MiB}-`]);
    await expect.poll(() => lease.stats(), { timeout: 5_000 }).toMatchObject({ state: 'stored', size });
  });

  it('an upstream that ignores the Range: the takeover skips the bytes it has and still stores the blob', async () => {
    const name = uniqueName('no-range');
    const size = 2 * MiB + 77;
    const { digest } = await addBlob({ size });
    const lease = await deadHolder(digest, size, [(await fullBytes(digest)).slice(0, MiB)]);
    await addFault(`GET /v2/library/${name}/blobs/`, { kind: 'ignore-range' }, 1);

    const readers = await Promise.all(Array.from({ length: 2 }, () => startReading(`http://mirror/v2/library/${name}/blobs/${digest}`)));
    expect((await Promise.all(readers.map((r) => r.done))).map((r) => r.digest)).toEqual([digest, digest]);
    expect((await upstreamLog(`${name}/blobs/${digest}`, 'GET')).map((entry) => entry.range)).toEqual([`bytes=${MiB}-`]);
    await expect.poll(() => lease.stats(), { timeout: 5_000 }).toMatchObject({ state: 'stored', size });
  });

  it('a dead holder left a corrupt piece: the takeover finds the digest wrong, every stream errors, nothing is stored, and the next GET gets the blob', async () => {
    const name = uniqueName('corrupt-piece');
    const size = 2 * MiB + 500;
    const { digest } = await addBlob({ size });
    const corrupt = (await fullBytes(digest)).slice(0, MiB);
    corrupt[7] = (corrupt[7] ?? 0) ^ 0xff;
    await deadHolder(digest, size, [corrupt]);

    const url = `http://mirror/v2/library/${name}/blobs/${digest}`;
    const readers = await Promise.all(Array.from({ length: 3 }, () => startReading(url)));
    const results = await Promise.all(readers.map((r) => r.done));
    for (const result of results) {
      expect(result.error).toBeDefined();
      expect(result.received).toBeLessThan(size);
    }
    await expect.poll(async () => (await env.BLOBS.list({ prefix: pieceKeyOf(digest, 0).slice(0, -1) })).objects.length, { timeout: 5_000 }).toBe(0);
    expect(await env.BLOBS.head(blobKeyOf(digest))).toBeNull();

    const retry = await startReading(url);
    expect((await retry.done).digest).toBe(digest);
  });

  it('wrong upstream bytes: every concurrent reader errors (none ends cleanly), no piece survives, and the next GET fetches again', async () => {
    const name = uniqueName('wrong');
    const size = 3 * MiB + 5;
    const { digest } = await addBlob({ size });
    await addFault(`GET /v2/library/${name}/blobs/${digest}`, { kind: 'wrong-bytes' }, 1);
    const url = `http://mirror/v2/library/${name}/blobs/${digest}`;
    const readers = await Promise.all(Array.from({ length: 5 }, () => startReading(url)));
    const results = await Promise.all(readers.map((r) => r.done));
    expect(results.every((r) => r.error !== undefined && r.digest === undefined && r.received < size)).toBe(true);
    await expect.poll(async () => (await env.BLOBS.list({ prefix: pieceKeyOf(digest, 0).slice(0, -1) })).objects.length, { timeout: 5_000 }).toBe(0);
    expect(await env.BLOBS.head(blobKeyOf(digest))).toBeNull();

    const retry = await startReading(url);
    expect((await retry.done).digest).toBe(digest);
    expect(await upstreamLog(`${name}/blobs/${digest}`, 'GET')).toHaveLength(2);
  });
});
