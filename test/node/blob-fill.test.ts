// BlobFill over both store implementations (one suite, spegel style): followers read a blob while
// it is written, the last byte waits for verification, a mismatch errors every reader and stores
// nothing, and ranges follow too.
import { describe, expect, it } from 'vitest';
import { BlobFill } from '../../sidecar/fill/blob-fill.js';
import { blobFixture, blobStoreImplementations } from '../helpers/blob-stores.js';

const fixture = blobFixture;

/** Reads a stream in the background, counting bytes as they come; `done` has all of them or the error. */
function follow(source: AsyncIterable<Uint8Array>) {
  const state = { bytes: 0, parts: [] as Buffer[] };
  const done = (async () => {
    for await (const chunk of source) {
      state.bytes += chunk.byteLength;
      state.parts.push(Buffer.from(chunk));
    }
    return Buffer.concat(state.parts);
  })();
  done.catch(() => undefined);
  return { state, done };
}

async function until(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

const implementations = blobStoreImplementations('fill');

describe.each(implementations)('BlobFill over %s', (_name, make) => {
  it('followers get bytes while the blob is written, the last byte only after verification', async () => {
    const store = await make();
    const blob = fixture(1_000_000);
    const fill = new BlobFill(blob.digest, await store.beginWrite(blob.digest));
    await fill.setSize(blob.bytes.length);
    const signal = new AbortController().signal;
    const early = follow(fill.read({}, signal));
    const half = 500_000;
    for (let at = 0; at < half; at += 100_000) await fill.write(blob.bytes.subarray(at, at + 100_000));
    await until(() => early.state.bytes === half - 1, 'the early reader to have all but the last byte written');
    // A reader that joins late starts from the beginning and catches up.
    const late = follow(fill.read({}, signal));
    const ranged = follow(fill.read({ offset: 200_000, length: 100_000 }, signal));
    for (let at = half; at < blob.bytes.length; at += 100_000) await fill.write(blob.bytes.subarray(at, at + 100_000));
    await until(() => early.state.bytes === blob.bytes.length - 1, 'all but the last byte');
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(early.state.bytes).toBe(blob.bytes.length - 1);
    // Even a range that ends long before the blob's end holds back its own last byte.
    expect(ranged.state.bytes).toBe(99_999);
    expect(await store.has(blob.digest)).toBe(false);

    await fill.complete();
    expect(fill.state).toBe('done');
    expect((await early.done).equals(blob.bytes)).toBe(true);
    expect((await late.done).equals(blob.bytes)).toBe(true);
    expect((await ranged.done).equals(blob.bytes.subarray(200_000, 300_000))).toBe(true);
    expect(await store.stat(blob.digest)).toEqual({ digest: blob.digest.value, size: blob.bytes.length });
    // After the fill, a reader of the fill object still gets everything.
    expect((await follow(fill.read({ offset: 999_000 }, signal)).done).equals(blob.bytes.subarray(999_000))).toBe(true);
  });

  it('a digest mismatch errors every follower and stores nothing', async () => {
    const store = await make();
    const blob = fixture(300_000);
    const fill = new BlobFill(blob.digest, await store.beginWrite(blob.digest));
    await fill.setSize(blob.bytes.length);
    const signal = new AbortController().signal;
    const readers = [follow(fill.read({}, signal)), follow(fill.read({ offset: 1000 }, signal))];
    const corrupt = Buffer.from(blob.bytes);
    corrupt[123_456] = (corrupt[123_456] ?? 0) ^ 1;
    await fill.write(corrupt);
    await until(() => readers.every((reader) => reader.state.bytes > 0), 'readers to get bytes');
    await expect(fill.complete()).rejects.toMatchObject({ code: 'DIGEST_INVALID' });
    expect(fill.state).toBe('failed');
    for (const reader of readers) {
      await expect(reader.done).rejects.toMatchObject({ code: 'DIGEST_INVALID' });
      expect(reader.state.bytes).toBeLessThan(blob.bytes.length);
    }
    expect(await store.has(blob.digest)).toBe(false);
    expect(await store.list()).toEqual([]);
    // A reader that comes after the failure errors at once.
    await expect(follow(fill.read({}, signal)).done).rejects.toMatchObject({ code: 'DIGEST_INVALID' });
  });

  it('sized() waits for the size and throws the fill error; a second source that disagrees on size is refused', async () => {
    const store = await make();
    const blob = fixture(10_000);
    const fill = new BlobFill(blob.digest, await store.beginWrite(blob.digest));
    const signal = new AbortController().signal;
    const sized = fill.sized(signal);
    await fill.setSize(10_000);
    expect(await sized).toBe(10_000);
    await expect(fill.setSize(9_999)).rejects.toThrow(/another said 10000/);
    const other = new BlobFill(blob.digest, await store.beginWrite(blob.digest));
    const waiting = other.sized(signal);
    other.fail(new Error('no source'));
    await expect(waiting).rejects.toThrow('no source');
    await fill.write(blob.bytes);
    await fill.complete();
  });

  it('a follower waiting for bytes stops when its signal aborts', async () => {
    const store = await make();
    const blob = fixture(10_000);
    const fill = new BlobFill(blob.digest, await store.beginWrite(blob.digest));
    const controller = new AbortController();
    const reader = follow(fill.read({}, controller.signal));
    await new Promise((resolve) => setTimeout(resolve, 20));
    controller.abort(new Error('client went away'));
    await expect(reader.done).rejects.toThrow('client went away');
    fill.fail(new Error('done with it'));
  });
});
