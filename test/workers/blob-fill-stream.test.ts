import { env, SELF } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { addBlob, addFault, blobKeyOf, sha256, sleep, storedBlobBytes, uniqueName, upstreamLog, waitForObject } from './registry-helpers.js';

const MiB = 1024 * 1024;

/** Reads a body to the end or its error, optionally pausing between reads; bounded by `limitMs`. */
async function readAll(body: ReadableStream<Uint8Array>, pauseMs = 0, limitMs = 20_000) {
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let received = 0;
  const deadline = Date.now() + limitMs;
  try {
    while (Date.now() < deadline) {
      const { done, value } = await reader.read();
      if (done) return { bytes: join(chunks, received), received, error: undefined };
      chunks.push(value);
      received += value.byteLength;
      if (pauseMs > 0) await sleep(pauseMs);
    }
    throw new Error('body not finished in time');
  } catch (error) {
    return { bytes: undefined, received, error };
  }
}

function join(chunks: Uint8Array[], size: number): Uint8Array {
  const out = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return out;
}

describe('blob fill stream (single put, hashed once on the store side)', () => {
  it('a multi-batch blob with a wrong first byte: the client stream errors before the whole blob arrives, R2 stays empty', async () => {
    const name = uniqueName();
    const size = 5 * MiB + 777;
    const { digest } = await addBlob({ size });
    await addFault(`GET /v2/library/${name}/blobs/${digest}`, { kind: 'wrong-bytes' }, 1);

    const res = await SELF.fetch(`http://mirror/v2/library/${name}/blobs/${digest}`);
    expect(res.status).toBe(200);
    const read = await readAll(res.body!);
    expect(read.error).toBeDefined();
    expect(read.received).toBeLessThan(size);
    await sleep(300);
    expect(await env.BLOBS.head(blobKeyOf(digest))).toBeNull();
  });

  it('a slow client gets the right bytes and does not make the store fail', async () => {
    const name = uniqueName();
    const size = 3 * MiB + 123;
    const { digest } = await addBlob({ size });

    const res = await SELF.fetch(`http://mirror/v2/library/${name}/blobs/${digest}`);
    expect(res.status).toBe(200);
    const started = Date.now();
    // Pauses between reads: the whole read takes well over a second.
    const read = await readAll(res.body!, 5);
    expect(read.error).toBeUndefined();
    expect(Date.now() - started).toBeGreaterThan(200);
    expect(await sha256(read.bytes!)).toBe(digest);

    expect(await waitForObject(blobKeyOf(digest))).toBe(true);
    const stored = await storedBlobBytes(digest);
    expect(stored?.byteLength).toBe(size);
    expect(await sha256(stored!)).toBe(digest);
    expect(await upstreamLog(digest, 'GET')).toHaveLength(1);
  });

  it('a truncated upstream body is continued with a Range from the stored pieces: the client gets the whole blob, once', async () => {
    const name = uniqueName();
    const size = 3 * MiB;
    const { digest } = await addBlob({ size });
    await addFault(`GET /v2/library/${name}/blobs/${digest}`, { kind: 'truncate', afterBytes: 2 * MiB + 100 }, 1);

    const res = await SELF.fetch(`http://mirror/v2/library/${name}/blobs/${digest}`);
    const read = await readAll(res.body!);
    expect(read.error).toBeUndefined();
    expect(read.received).toBe(size);
    expect(await sha256(read.bytes!)).toBe(digest);
    const gets = await upstreamLog(digest, 'GET');
    expect(gets.map((entry) => entry.range)).toEqual([undefined, `bytes=${2 * MiB}-`]);
    expect(await waitForObject(blobKeyOf(digest))).toBe(true);
  });
});
