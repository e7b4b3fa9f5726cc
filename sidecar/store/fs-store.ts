import { randomBytes } from 'node:crypto';
import { createReadStream, readSync } from 'node:fs';
import { mkdir, open, readdir, rename, rm, stat, utimes, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { OciError, type Digest } from '../../workers/shared/oci/index.js';
import { checkedRange, putVia, type BlobInfo, type BlobStore, type BlobUsage, type BlobWriter, type OpenOptions, type PartReader } from './blob-store.js';
import { DigestVerifier } from './verifier.js';

const TEMP_SUFFIX = '.part';
/** Names the store writes: `<hex>` for a blob, `<hex>.<12 hex>.part` while it is written. */
const BLOB_NAME = { sha256: /^[a-f0-9]{64}$/, sha512: /^[a-f0-9]{128}$/ };
const TEMP_NAME = { sha256: /^[a-f0-9]{64}\.[a-f0-9]{12}\.part$/, sha512: /^[a-f0-9]{128}\.[a-f0-9]{12}\.part$/ };
/** A write of undeclared size holds capacity in steps of this many bytes as it grows. */
const RESERVE_STEP_BYTES = 4 * 1024 * 1024;
const WRITE_BATCH_BYTES = 1024 * 1024;
/** How long a partial write batch waits for more bytes before it goes to disk anyway. */
const FLUSH_DELAY_MS = 5;
const READ_CHUNK_BYTES = 256 * 1024;

interface Entry {
  size: number;
  lastAccess: number;
}

export interface FsBlobStoreOptions {
  dir: string;
  /** Bytes; blobs are evicted least-recently-used first to stay under it. */
  capacity: number;
  onEvict?: (info: BlobInfo) => void;
  log?: (message: string) => void;
}

/**
 * Blobs live at `<dir>/blobs/<algorithm>/<hex>`. Writes go to a `.part` file in the same directory,
 * are verified and fsynced, then renamed, so a crash never leaves a partial blob under its final name.
 */
export class FsBlobStore implements BlobStore {
  private readonly entries = new Map<string, Entry>();
  /** Blobs being read or written; never evicted. */
  private readonly pins = new Map<string, number>();
  private bytes = 0;
  /** Capacity held by writes in flight; committed blobs count in `bytes` instead. */
  private reserved = 0;
  private evictions = 0;

  private constructor(private readonly options: FsBlobStoreOptions) {}

  private log(message: string): void {
    (this.options.log ?? ((line: string) => process.stderr.write(`fastreg sidecar: ${line}\n`)))(message);
  }

  static async open(options: FsBlobStoreOptions): Promise<FsBlobStore> {
    const store = new FsBlobStore(options);
    await store.load();
    return store;
  }

  private dirFor(algorithm: string): string {
    return join(this.options.dir, 'blobs', algorithm);
  }

  /** `key` is a canonical digest string: a Digest's value, or a name read from the store's own directory. */
  private pathFor(key: string): string {
    const colon = key.indexOf(':');
    return join(this.dirFor(key.slice(0, colon)), key.slice(colon + 1));
  }

  /**
   * Indexes stored blobs and removes temp files left by a crash. Only regular files named like a
   * digest of their directory's algorithm are indexed; anything else is left alone (and logged), so
   * a stray file can never come up for eviction.
   */
  private async load(): Promise<void> {
    for (const algorithm of ['sha256', 'sha512'] as const) {
      const dir = this.dirFor(algorithm);
      await mkdir(dir, { recursive: true });
      for (const entry of await readdir(dir, { withFileTypes: true })) {
        const path = join(dir, entry.name);
        if (entry.isFile() && TEMP_NAME[algorithm].test(entry.name)) {
          await rm(path, { force: true });
          continue;
        }
        if (!entry.isFile() || !BLOB_NAME[algorithm].test(entry.name)) {
          this.log(`store: ignoring ${path}: not a ${algorithm} blob file`);
          continue;
        }
        const info = await stat(path);
        this.entries.set(`${algorithm}:${entry.name}`, { size: info.size, lastAccess: info.atimeMs });
        this.bytes += info.size;
      }
    }
  }

  async stat({ value: digest }: Digest): Promise<BlobInfo | undefined> {
    const entry = this.entries.get(digest);
    return entry ? { digest, size: entry.size } : undefined;
  }

  async has(digest: Digest): Promise<boolean> {
    return this.entries.has(digest.value);
  }

  async open({ value: digest }: Digest, options: OpenOptions = {}): Promise<AsyncIterable<Uint8Array>> {
    const entry = this.entries.get(digest);
    if (!entry) throw new OciError('BLOB_UNKNOWN', `blob ${digest} is not stored here`);
    const { offset, length } = checkedRange(options, entry.size);
    // Opened and pinned now, so an eviction between open and read cannot pull the file away.
    const handle = await open(this.pathFor(digest), 'r');
    this.pin(digest);
    this.touch(digest, entry);
    let released = false;
    const release = async (): Promise<void> => {
      if (released) return;
      released = true;
      await handle.close().catch(() => undefined);
      this.unpin(digest);
    };
    return new ReleasingReader(readRange(handle, offset, length), release);
  }

  async beginWrite(digest: Digest, options: { expectedSize?: number } = {}): Promise<BlobWriter> {
    const canonical = digest.value;
    const finalPath = this.pathFor(canonical);
    const tempPath = `${finalPath}.${randomBytes(6).toString('hex')}${TEMP_SUFFIX}`;
    const held = options.expectedSize ?? 0;
    if (held > 0) await this.reserve(held, canonical);
    let handle: FileHandle;
    try {
      handle = await open(tempPath, 'wx', 0o644);
    } catch (err) {
      this.reserved -= held;
      throw err;
    }
    this.pin(canonical);
    return new FsBlobWriter(canonical, handle, tempPath, finalPath, new DigestVerifier(digest, options.expectedSize), held, {
      reserve: (bytes, ahead) => this.reserve(bytes, canonical, ahead),
      publish: async (size, holding) => {
        await rename(tempPath, finalPath);
        const previous = this.entries.get(canonical);
        if (previous) this.bytes -= previous.size;
        this.entries.set(canonical, { size, lastAccess: Date.now() });
        this.bytes += size;
        this.reserved -= holding;
      },
      done: (holding) => {
        this.reserved -= holding;
        this.unpin(canonical);
      },
    });
  }

  put(source: AsyncIterable<Uint8Array>, digest: Digest, options: { expectedSize?: number } = {}): Promise<BlobInfo> {
    return putVia(this, source, digest, options.expectedSize);
  }

  delete(digest: Digest): Promise<boolean> {
    return this.deleteKey(digest.value);
  }

  private async deleteKey(canonical: string): Promise<boolean> {
    const entry = this.entries.get(canonical);
    if (!entry) return false;
    this.entries.delete(canonical);
    this.bytes -= entry.size;
    await rm(this.pathFor(canonical), { force: true });
    return true;
  }

  /** Drops a blob to make room; a file that cannot be removed is logged and left, never failing the write that needed room. */
  private async evict(canonical: string, entry: Entry): Promise<void> {
    try {
      await this.deleteKey(canonical);
    } catch (err) {
      this.log(`store: could not remove evicted ${this.pathFor(canonical)}: ${(err as Error).message}`);
    }
    this.evictions += 1;
    this.options.onEvict?.({ digest: canonical, size: entry.size });
  }

  async list(): Promise<BlobInfo[]> {
    return [...this.entries].map(([digest, entry]) => ({ digest, size: entry.size }));
  }

  usage(): BlobUsage {
    return { bytes: this.bytes, reserved: this.reserved, count: this.entries.size, capacity: this.options.capacity, evictions: this.evictions };
  }

  /**
   * Holds `incoming` bytes of capacity for a write (and up to `ahead` more, if free without
   * evicting), evicting least-recently-used blobs that nobody is reading or writing until they
   * fit. The check and the hold happen in one step, so writes in flight can never together hold
   * more than the capacity. Returns the bytes held.
   */
  private async reserve(incoming: number, keep: string, ahead = 0): Promise<number> {
    const { capacity } = this.options;
    if (incoming > capacity) {
      throw new OciError('PAYLOAD_TOO_LARGE', `blob of ${incoming} bytes exceeds the store capacity of ${capacity} bytes`);
    }
    const candidates = [...this.entries].sort(([, a], [, b]) => a.lastAccess - b.lastAccess);
    for (;;) {
      const free = capacity - this.bytes - this.reserved;
      if (incoming <= free) {
        const held = incoming + Math.min(ahead, free - incoming);
        this.reserved += held;
        return held;
      }
      const next = candidates.shift();
      if (!next) throw new OciError('UNAVAILABLE', 'store is full of blobs in use; try again later', { status: 507 });
      const [digest, entry] = next;
      // Entries may have been read, pinned or dropped while an earlier eviction was awaited.
      if (digest !== keep && this.entries.get(digest) === entry && !this.pins.has(digest)) await this.evict(digest, entry);
    }
  }

  private touch(digest: string, entry: Entry): void {
    entry.lastAccess = Date.now();
    // Persist the access time so LRU order survives a restart; best effort.
    const seconds = entry.lastAccess / 1000;
    utimes(this.pathFor(digest), seconds, seconds).catch(() => undefined);
  }

  private pin(digest: string): void {
    this.pins.set(digest, (this.pins.get(digest) ?? 0) + 1);
  }

  private unpin(digest: string): void {
    const count = (this.pins.get(digest) ?? 1) - 1;
    if (count <= 0) this.pins.delete(digest);
    else this.pins.set(digest, count);
  }
}

interface WriterHooks {
  /** Holds `bytes` more bytes of capacity for the write, and up to `ahead` more if free; returns the bytes held. */
  reserve(bytes: number, ahead: number): Promise<number>;
  /** Makes the blob visible and turns the `holding` bytes into its stored size. */
  publish(size: number, holding: number): Promise<void>;
  /** Gives back the `holding` bytes (zero after a publish) and the pin. */
  done(holding: number): void;
}

class FsBlobWriter implements BlobWriter {
  private batch: Buffer[] = [];
  private batchBytes = 0;
  /** The one writev in flight; chunks that arrive meanwhile form the next batch. */
  private writing: Promise<void> | undefined;
  private failure: Error | undefined;
  private persisted = 0;
  private readonly listeners = new Set<() => void>();
  private flushTimer: NodeJS.Timeout | undefined;
  private finished = false;

  constructor(
    readonly digest: string,
    private readonly handle: FileHandle,
    private readonly tempPath: string,
    private readonly finalPath: string,
    private readonly verifier: DigestVerifier,
    /** Bytes of capacity held for this write: the declared size, or what has arrived so far. */
    private held: number,
    private readonly hooks: WriterHooks,
  ) {}

  get written(): number {
    return this.verifier.written;
  }

  get readable(): number {
    return this.persisted;
  }

  onReadable(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async openReader(): Promise<PartReader> {
    let handle: FileHandle;
    try {
      handle = await open(this.tempPath, 'r');
    } catch (err) {
      // Renamed by a commit in between: the same bytes are under the final name now.
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      handle = await open(this.finalPath, 'r');
    }
    return fileReader(handle);
  }

  async reserve(size: number): Promise<void> {
    if (this.finished) throw new Error('reserve after commit/abort');
    this.verifier.checkDeclared(size);
    await this.hold(size);
    this.verifier.expect(size);
  }

  private async hold(bytes: number, ahead = 0): Promise<void> {
    if (bytes > this.held) this.held += await this.hooks.reserve(bytes - this.held, ahead);
  }

  async write(chunk: Uint8Array): Promise<void> {
    if (this.finished) throw new Error('write after commit/abort');
    if (this.failure) throw this.failure;
    const needed = this.verifier.written + chunk.byteLength;
    // Without a declared size, capacity is held ahead in steps as the bytes arrive.
    if (needed > this.held) await this.hold(this.verifier.expectedSize ?? needed, this.verifier.expectedSize === undefined ? RESERVE_STEP_BYTES : 0);
    this.verifier.update(chunk);
    // A view, not a copy: received chunks are not reused by libp2p or node streams.
    this.batch.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
    this.batchBytes += chunk.byteLength;
    if (this.batchBytes >= WRITE_BATCH_BYTES) this.kick();
    else this.flushSoon();
    // At most one batch in flight and one filling (~2 MB): the source waits for the disk.
    while (this.writing && this.batchBytes >= WRITE_BATCH_BYTES) await this.writing;
    if (this.failure) throw this.failure;
  }

  /**
   * A partial batch goes to disk after FLUSH_DELAY_MS without more bytes, so readers following the
   * fill see bytes that trickle in (or stop mid-blob) at once, while a fast source still writes
   * in ~1 MB batches (one writev per chunk would cost a thread-pool round trip per 64 KiB).
   */
  private flushSoon(): void {
    this.flushTimer ??= setTimeout(() => {
      this.flushTimer = undefined;
      this.kick();
    }, FLUSH_DELAY_MS);
  }

  /** Starts writing what is batched, unless a write is in flight (its completion comes back here). */
  private kick(): void {
    if (this.writing || this.batch.length === 0 || this.failure) return;
    const batch = this.batch;
    const bytes = this.batchBytes;
    this.batch = [];
    this.batchBytes = 0;
    this.writing = this.handle.writev(batch).then(
      () => {
        this.persisted += bytes;
        this.writing = undefined;
        this.notify();
        if (this.batchBytes >= WRITE_BATCH_BYTES) this.kick();
        else if (this.batch.length > 0) this.flushSoon();
      },
      (err: unknown) => {
        this.failure = err instanceof Error ? err : new Error(String(err));
        this.writing = undefined;
        this.notify();
      },
    );
  }

  private notify(): void {
    for (const listener of this.listeners) listener();
  }

  private async drain(): Promise<void> {
    clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    while (this.writing || this.batch.length > 0) {
      this.kick();
      await this.writing;
      if (this.failure) throw this.failure;
    }
    if (this.failure) throw this.failure;
  }

  async commit(): Promise<BlobInfo> {
    if (this.finished) throw new Error('commit after commit/abort');
    try {
      await this.drain();
      const size = this.verifier.finish();
      await this.handle.sync();
      await this.handle.close();
      await this.hooks.publish(size, this.held);
      this.held = 0;
      this.finished = true;
      this.hooks.done(0);
      return { digest: this.digest, size };
    } catch (err) {
      await this.abort();
      throw err;
    }
  }

  async abort(): Promise<void> {
    if (this.finished) return;
    this.finished = true;
    clearTimeout(this.flushTimer);
    this.batch = [];
    this.batchBytes = 0;
    while (this.writing) await this.writing;
    await this.handle.close().catch(() => undefined);
    await rm(this.tempPath, { force: true });
    const holding = this.held;
    this.held = 0;
    this.hooks.done(holding);
    this.notify();
  }
}

/**
 * Reads of a filling blob's temp file. They are synchronous on purpose: a follower reads bytes this
 * process wrote moments ago, so they come from the page cache (a memory copy), and an async read
 * costs a thread-pool round trip per chunk, which on a busy machine showed as the serving sidecar's
 * largest main-thread cost in a LAN burst (1.4 s of 8.7, five clients following one fill).
 */
function fileReader(handle: FileHandle): PartReader {
  return {
    async read(position, length) {
      const buffer = Buffer.allocUnsafe(length);
      const bytesRead = readSync(handle.fd, buffer, 0, length, position);
      return buffer.subarray(0, bytesRead);
    },
    close: () => handle.close().catch(() => undefined),
  };
}

async function* readRange(handle: FileHandle, offset: number, length: number): AsyncGenerator<Uint8Array> {
  if (length === 0) return;
  const stream = createReadStream('', { fd: handle, start: offset, end: offset + length - 1, highWaterMark: READ_CHUNK_BYTES, autoClose: false });
  try {
    for await (const chunk of stream) yield chunk as Buffer;
  } finally {
    stream.destroy();
  }
}

/**
 * Releases the file handle and the pin at the end, on an error, or on return() — including a
 * return() before the first next(), which a bare async generator would skip its finally for.
 */
class ReleasingReader implements AsyncIterableIterator<Uint8Array> {
  constructor(
    private readonly chunks: AsyncGenerator<Uint8Array>,
    private readonly release: () => Promise<void>,
  ) {}

  [Symbol.asyncIterator](): this {
    return this;
  }

  async next(): Promise<IteratorResult<Uint8Array>> {
    try {
      const result = await this.chunks.next();
      if (result.done) await this.release();
      return result;
    } catch (err) {
      await this.release();
      throw err;
    }
  }

  async return(): Promise<IteratorResult<Uint8Array>> {
    try {
      await this.chunks.return(undefined);
    } finally {
      await this.release();
    }
    return { done: true, value: undefined };
  }
}
