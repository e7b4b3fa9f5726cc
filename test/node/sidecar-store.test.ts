import { createHash } from 'node:crypto';
import { mkdir, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { OciError, parseDigest } from '../../workers/shared/oci/index.js';
import { FsBlobStore } from '../../sidecar/store/fs-store.js';
import { parseSize } from '../../sidecar/sizes.js';
import { loadSidecarConfig } from '../../sidecar/config.js';
import { decodeEnvelope, encodeEnvelope, selectKvRecord, validateKvRecord } from '../../sidecar/node/kv-record.js';
import { PenaltyBox } from '../../sidecar/p2p/penalty-box.js';
import { blobFixture, blobStoreImplementations } from '../helpers/blob-stores.js';
import { makeTempDir, removeDir } from '../helpers/sidecar-cluster.js';

// Fixtures are named by their hash.
const fixture = blobFixture;

async function* chunks(bytes: Uint8Array, size = 7_777): AsyncGenerator<Uint8Array> {
  for (let at = 0; at < bytes.byteLength; at += size) yield bytes.subarray(at, at + size);
}

/** Sizes of the temp files of writes in flight. */
async function partSizes(dir: string): Promise<number[]> {
  const algoDir = join(dir, 'blobs', 'sha256');
  const names = (await readdir(algoDir)).filter((name) => name.endsWith('.part'));
  return Promise.all(names.map(async (name) => (await stat(join(algoDir, name))).size));
}

async function collect(source: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of source) parts.push(Buffer.from(chunk));
  return Buffer.concat(parts);
}

const implementations = blobStoreImplementations('store');

const dirs: string[] = [];
afterAll(async () => {
  await Promise.all(dirs.map(removeDir));
});

describe.each(implementations)('BlobStore conformance: %s', (_name, make) => {
  it('stores a blob and serves bytes that hash to its digest', async () => {
    const store = await make();
    const blob = fixture(300_000);
    expect(await store.has(blob.digest)).toBe(false);
    const info = await store.put(chunks(blob.bytes), blob.digest, { expectedSize: blob.bytes.length });
    expect(info).toEqual({ digest: blob.digest.value, size: blob.bytes.length });
    expect(await store.stat(blob.digest)).toEqual(info);
    const served = await collect(await store.open(blob.digest));
    expect(`sha256:${createHash('sha256').update(served).digest('hex')}`).toBe(blob.digest.value);
    expect((await store.list()).map((b) => b.digest)).toContain(blob.digest.value);
  });

  it('serves ranges from an offset', async () => {
    const store = await make();
    const blob = fixture(100_000);
    await store.put(chunks(blob.bytes), blob.digest);
    expect(Buffer.compare(await collect(await store.open(blob.digest, { offset: 12_345 })), blob.bytes.subarray(12_345))).toBe(0);
    expect(Buffer.compare(await collect(await store.open(blob.digest, { offset: 10, length: 20 })), blob.bytes.subarray(10, 30))).toBe(0);
    await expect(store.open(blob.digest, { offset: 100_001 })).rejects.toMatchObject({ code: 'RANGE_INVALID' });
  });

  it('rejects bytes that do not match the digest and stores nothing', async () => {
    const store = await make();
    const blob = fixture(50_000);
    const tampered = Buffer.from(blob.bytes);
    tampered[49_999] = (tampered[49_999] ?? 0) ^ 1;
    await expect(store.put(chunks(tampered), blob.digest)).rejects.toMatchObject({ code: 'DIGEST_INVALID' });
    expect(await store.has(blob.digest)).toBe(false);
    await expect(store.put(chunks(blob.bytes), blob.digest, { expectedSize: 10 })).rejects.toBeInstanceOf(OciError);
    expect(await store.has(blob.digest)).toBe(false);
  });

  it('resumes a write: bytes written so far are kept and verified with the rest', async () => {
    const store = await make();
    const blob = fixture(80_000);
    const writer = await store.beginWrite(blob.digest);
    await writer.write(blob.bytes.subarray(0, 30_000));
    expect(writer.written).toBe(30_000);
    for await (const chunk of chunks(blob.bytes.subarray(writer.written))) await writer.write(chunk);
    await writer.commit();
    expect(await collect(await store.open(blob.digest))).toEqual(Buffer.from(blob.bytes));
  });

  it('reports unknown blobs and invalid digests as OCI errors', async () => {
    const store = await make();
    await expect(store.open(fixture(10).digest)).rejects.toMatchObject({ code: 'BLOB_UNKNOWN' });
    // Digests are parsed where they enter the sidecar; the store only ever sees parsed ones.
    expect(() => parseDigest('sha256:nothex')).toThrow(expect.objectContaining({ code: 'DIGEST_INVALID' }));
    expect(await store.delete(fixture(10).digest)).toBe(false);
  });
});

describe('FsBlobStore specifics', () => {
  it('evicts least recently used blobs to stay under capacity, never one being read', async () => {
    const dir = await makeTempDir('lru');
    dirs.push(dir);
    const store = await FsBlobStore.open({ dir, capacity: 250_000 });
    const [a, b, c, d] = [fixture(100_000), fixture(100_000), fixture(100_000), fixture(100_000)];
    await store.put(chunks(a!.bytes), a!.digest);
    await new Promise((r) => setTimeout(r, 5));
    await store.put(chunks(b!.bytes), b!.digest);
    await new Promise((r) => setTimeout(r, 5));
    // Reading `a` makes it recently used; `b` is now the oldest.
    await collect(await store.open(a!.digest));
    await store.put(chunks(c!.bytes), c!.digest);
    expect(await store.has(b!.digest)).toBe(false);
    expect(await store.has(a!.digest)).toBe(true);
    expect(store.usage().evictions).toBe(1);
    // Hold `a` open (pinned) while `d` needs room: `c` goes even though `a` is older.
    const reading = (await store.open(a!.digest))[Symbol.asyncIterator]();
    await reading.next();
    await new Promise((r) => setTimeout(r, 5));
    await store.put(chunks(d!.bytes), d!.digest);
    expect(await store.has(a!.digest)).toBe(true);
    expect(await store.has(c!.digest)).toBe(false);
    await reading.return?.();
    expect(store.usage().bytes).toBeLessThanOrEqual(250_000);
    await expect(store.put(chunks(fixture(300_000).bytes), fixture(1).digest, { expectedSize: 300_000 })).rejects.toMatchObject({ code: 'PAYLOAD_TOO_LARGE' });
  });

  it('an opened read pins its blob before the first chunk, and return() before any read releases it', async () => {
    const dir = await makeTempDir('pin');
    dirs.push(dir);
    const store = await FsBlobStore.open({ dir, capacity: 150_000 });
    const [a, b] = [fixture(100_000), fixture(100_000)];
    await store.put(chunks(a.bytes), a.digest);
    const unread = (await store.open(a.digest))[Symbol.asyncIterator]();
    await expect(store.put(chunks(b.bytes), b.digest, { expectedSize: 100_000 })).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    expect(await store.has(a.digest)).toBe(true);
    await unread.return?.();
    await store.put(chunks(b.bytes), b.digest, { expectedSize: 100_000 });
    expect(await store.has(a.digest)).toBe(false);
    expect(await store.has(b.digest)).toBe(true);
  });

  it('keeps blobs across a restart and removes stale temp files', async () => {
    const dir = await makeTempDir('restart');
    dirs.push(dir);
    const blob = fixture(20_000);
    const first = await FsBlobStore.open({ dir, capacity: 1e9 });
    await first.put(chunks(blob.bytes), blob.digest);
    // A crash mid-write leaves a .part file and never a file under the final name.
    const writer = await first.beginWrite(fixture(10).digest);
    await writer.write(new Uint8Array(5));
    const algoDir = join(dir, 'blobs', 'sha256');
    expect((await readdir(algoDir)).some((name) => name.endsWith('.part'))).toBe(true);
    await mkdir(algoDir, { recursive: true });
    await writeFile(join(algoDir, `${'d'.repeat(64)}.abcdef012345.part`), 'junk');
    const second = await FsBlobStore.open({ dir, capacity: 1e9 });
    expect(await second.stat(blob.digest)).toEqual({ digest: blob.digest.value, size: 20_000 });
    expect((await readdir(algoDir)).filter((name) => name.endsWith('.part'))).toEqual([]);
    expect(await collect(await second.open(blob.digest))).toEqual(Buffer.from(blob.bytes));
  });
  it('a declared size is checked before any byte: above the expected size or the capacity it is refused', async () => {
    const dir = await makeTempDir('declared');
    dirs.push(dir);
    const store = await FsBlobStore.open({ dir, capacity: 200_000 });
    const blob = fixture(50_000);
    const expected = await store.beginWrite(blob.digest, { expectedSize: 50_000 });
    await expect(expected.reserve(10 ** 15)).rejects.toMatchObject({ code: 'SIZE_INVALID' });
    await expected.abort();
    const unknown = await store.beginWrite(blob.digest);
    await expect(unknown.reserve(10 ** 15)).rejects.toMatchObject({ code: 'PAYLOAD_TOO_LARGE' });
    expect(store.usage().reserved).toBe(0);
    expect(await partSizes(dir)).toEqual([0]);
    // An honest declaration still goes through on the same writer.
    await unknown.reserve(50_000);
    for await (const chunk of chunks(blob.bytes)) await unknown.write(chunk);
    await expect(unknown.commit()).resolves.toEqual({ digest: blob.digest.value, size: 50_000 });
    expect(store.usage()).toMatchObject({ bytes: 50_000, reserved: 0 });
  });

  it('writes in flight hold their declared size (or what they wrote) against the capacity', async () => {
    const dir = await makeTempDir('inflight');
    dirs.push(dir);
    const store = await FsBlobStore.open({ dir, capacity: 250_000 });
    const [a, b, c] = [fixture(100_000), fixture(100_000), fixture(100_000)];
    const first = await store.beginWrite(a.digest);
    await first.reserve(100_000);
    const second = await store.beginWrite(b.digest, { expectedSize: 100_000 });
    expect(store.usage()).toMatchObject({ bytes: 0, reserved: 200_000 });
    // Two fills of 100 kB not written yet leave no room for a third: it is refused, nothing written.
    const third = await store.beginWrite(c.digest);
    await expect(third.reserve(100_000)).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    // A write of undeclared size holds what it writes, so it cannot overrun the capacity either.
    await expect((async () => {
      for await (const chunk of chunks(c.bytes)) await third.write(chunk);
    })()).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    await third.abort();
    await first.abort();
    expect(store.usage().reserved).toBe(100_000);
    for await (const chunk of chunks(b.bytes)) await second.write(chunk);
    await second.commit();
    expect(store.usage()).toMatchObject({ bytes: 100_000, reserved: 0 });
  });

  it('indexes only blob file names; a stray file or directory is logged and never breaks eviction', async () => {
    const dir = await makeTempDir('stray');
    dirs.push(dir);
    const algoDir = join(dir, 'blobs', 'sha256');
    await mkdir(algoDir, { recursive: true });
    // Hex names the store never writes: too short, and a directory with a digest-like name.
    await writeFile(join(algoDir, 'abc'), Buffer.alloc(40_000));
    await mkdir(join(algoDir, 'f'.repeat(64)));
    await writeFile(join(algoDir, 'notes.txt'), 'hello');
    const logs: string[] = [];
    const store = await FsBlobStore.open({ dir, capacity: 150_000, log: (line) => logs.push(line) });
    expect(store.usage()).toMatchObject({ bytes: 0, count: 0 });
    expect(logs.filter((line) => /ignoring/.test(line))).toHaveLength(3);
    // Near capacity every write needs an eviction; none of them may hit the stray entries.
    for (const blob of [fixture(100_000), fixture(100_000), fixture(100_000)]) {
      await store.put(chunks(blob.bytes), blob.digest, { expectedSize: 100_000 });
      expect(await store.has(blob.digest)).toBe(true);
    }
    expect(store.usage()).toMatchObject({ count: 1, evictions: 2 });
    expect((await readdir(algoDir)).sort()).toEqual(expect.arrayContaining(['abc', 'f'.repeat(64), 'notes.txt']));
  });
});

describe('sidecar config, sizes, kv records, penalty box', () => {
  it('parses human sizes', () => {
    expect(parseSize('10GiB')).toBe(10 * 2 ** 30);
    expect(parseSize('500MB')).toBe(500e6);
    expect(parseSize('1.5k')).toBe(1500);
    expect(parseSize('123')).toBe(123);
    expect(parseSize('lots')).toBeUndefined();
    expect(parseSize('5 parsecs')).toBeUndefined();
  });

  it('validates config once with messages naming the flag', () => {
    const config = loadSidecarConfig({ storageDir: '/tmp/x', capacity: '1GiB', http: '127.0.0.1:0', openSwarm: true });
    expect(config.capacity).toBe(2 ** 30);
    expect(config.swarm).toBe('open');
    // The swarm is private by default: a key from the edge (enrollment) or a file, or an explicit open swarm.
    expect(() => loadSidecarConfig({ storageDir: '/tmp/x' })).toThrow(/--open-swarm: the swarm is private by default/);
    expect(() => loadSidecarConfig({ storageDir: '/tmp/x', edge: 'http://127.0.0.1:1' })).toThrow(/the swarm is private by default/);
    expect(loadSidecarConfig({ storageDir: '/tmp/x', edge: 'http://127.0.0.1:1', enrollToken: 'enroll-token-0123456789' }).swarm).toBe('edge');
    expect(loadSidecarConfig({ storageDir: '/tmp/x', pskFile: '/tmp/x/swarm.key' }).swarm).toBe('psk-file');
    expect(() => loadSidecarConfig({ storageDir: '/tmp/x', pskFile: '/tmp/x/swarm.key', openSwarm: true })).toThrow(/--open-swarm: contradicts --psk-file/);
    expect(config.keyFile).toBe('/tmp/x/identity.key');
    expect(config.http).toEqual({ host: '127.0.0.1', port: 0 });
    const bad = () => loadSidecarConfig({ capacity: 'lots', bootstrap: ['/ip4/1.2.3.4/tcp/1'], http: 'nope:99999' });
    expect(bad).toThrow(/--capacity: expected a size/);
    expect(bad).toThrow(/--bootstrap: expected a multiaddr ending in \/p2p\//);
    expect(bad).toThrow(/--http: expected host:port/);
  });

  it('kv selector picks the newest envelope; the validator rejects junk', () => {
    const key = new TextEncoder().encode('/fastreg/a');
    const records = [encodeEnvelope('old', 1), encodeEnvelope('new', 3), encodeEnvelope('mid', 2)];
    expect(selectKvRecord(key, records)).toBe(1);
    expect(decodeEnvelope(records[1]!).value).toBe('new');
    expect(() => validateKvRecord(key, records[0]!)).not.toThrow();
    expect(() => validateKvRecord(key, new TextEncoder().encode('{"v":2}'))).toThrow();
    expect(() => validateKvRecord(new TextEncoder().encode('/other/a'), records[0]!)).toThrow();
  });

  it('penalties expire', () => {
    let now = 1_000;
    const box = new PenaltyBox(500, () => now);
    box.penalize('peer');
    expect(box.isPenalized('peer')).toBe(true);
    now += 501;
    expect(box.isPenalized('peer')).toBe(false);
  });
});
