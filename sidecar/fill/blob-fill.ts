// One blob being filled into the store, readable while it fills (cut-through, see README): every reader, HTTP
// client or P2P peer, follows the temp file as it grows with a file handle of its own, so a slow
// reader holds back nobody and costs one read chunk of memory. Verification stays the gate: the
// last byte of every stream is released only once the digest of the whole blob has been checked,
// and when the check fails every stream errors and nothing is stored.
import { OciError, type Digest } from '../../workers/shared/oci/index.js';
import type { BlobInfo, BlobWriter } from '../store/blob-store.js';
import { FillOrigins } from './fill-origins.js';

export type FillSource = 'p2p' | 'edge';
export type FillState = 'filling' | 'done' | 'failed';

/** Largest read a follower makes at once: its memory bound. */
export const FOLLOW_CHUNK_BYTES = 256 * 1024;

export class BlobFill {
  private stateValue: FillState = 'filling';
  private failure: Error | undefined;
  private sizeValue: number | undefined;
  private stored: BlobInfo | undefined;
  private wakeups = new Set<() => void>();
  private readonly unsubscribe: () => void;
  /** Where the bytes come from now; may change when a transfer resumes elsewhere. */
  source: FillSource = 'p2p';

  constructor(
    readonly digest: Digest,
    private readonly writer: BlobWriter,
    /** Where callers asked for the blob: the edge is asked for each in turn. */
    readonly origins = new FillOrigins(),
  ) {
    this.unsubscribe = writer.onReadable(() => this.wake());
  }

  get state(): FillState {
    return this.stateValue;
  }

  get size(): number | undefined {
    return this.stored?.size ?? this.sizeValue;
  }

  /** Bytes accepted so far: where a cut transfer resumes. */
  get written(): number {
    return this.writer.written;
  }

  get error(): Error | undefined {
    return this.failure;
  }

  /**
   * Records the full size, once a source has said it. A size that disagrees with another source's,
   * or that the store cannot hold, is refused before any byte of that source is written.
   */
  async setSize(size: number): Promise<void> {
    if (this.sizeValue === size) return;
    if (this.sizeValue !== undefined) {
      throw new OciError('SIZE_INVALID', `a source says ${this.digest.value} has ${size} bytes, another said ${this.sizeValue}`);
    }
    await this.writer.reserve(size);
    this.sizeValue = size;
    this.wake();
  }

  write(chunk: Uint8Array): Promise<void> {
    return this.writer.write(chunk);
  }

  /** Verifies and stores the blob, then releases the last bytes to every reader; a mismatch fails the fill. */
  async complete(): Promise<BlobInfo> {
    try {
      this.stored = await this.writer.commit();
    } catch (err) {
      this.fail(err);
      throw err;
    }
    this.stateValue = 'done';
    this.unsubscribe();
    this.wake();
    return this.stored;
  }

  /** Every reader errors; nothing is stored. Idempotent. */
  fail(err: unknown): void {
    if (this.stateValue !== 'filling') return;
    this.failure = err instanceof Error ? err : new Error(String(err));
    this.stateValue = 'failed';
    this.unsubscribe();
    void this.writer.abort().catch(() => undefined);
    this.wake();
  }

  /** The full size once a source has given it (or the fill is done); throws when the fill fails first. */
  async sized(signal: AbortSignal): Promise<number | undefined> {
    for (;;) {
      if (this.stateValue === 'failed') throw this.failure;
      if (this.size !== undefined || this.stateValue === 'done') return this.size;
      await this.changed(signal);
    }
  }

  /**
   * The bytes from `offset` (for `length` bytes, or to the end) as they arrive. Until the blob is
   * verified, the stream's last byte is held back; a failed fill makes the stream throw.
   */
  async *read(range: { offset?: number; length?: number }, signal: AbortSignal): AsyncGenerator<Uint8Array> {
    const offset = range.offset ?? 0;
    if (this.hasFailed()) throw this.failure;
    let reader;
    try {
      reader = await this.writer.openReader();
    } catch (err) {
      // The temp file of a fill that failed meanwhile is gone: report why it failed.
      throw this.hasFailed() ? this.failure : err;
    }
    try {
      let at = offset;
      for (;;) {
        signal.throwIfAborted();
        if (this.stateValue === 'failed') throw this.failure;
        const done = this.stateValue === 'done';
        const end = range.length !== undefined ? offset + range.length : done ? (this.size as number) : Number.POSITIVE_INFINITY;
        const limit = done ? end : Math.min(end, this.writer.readable) - 1;
        if (at < limit) {
          const chunk = await reader.read(at, Math.min(FOLLOW_CHUNK_BYTES, limit - at));
          if (chunk.byteLength === 0) throw new Error(`${this.digest.value}: file ended at ${at} before ${limit}`);
          // Checked again after the read: bytes of a fill that failed meanwhile are never passed on.
          if (this.hasFailed()) throw this.failure;
          at += chunk.byteLength;
          yield chunk;
          continue;
        }
        if (done) return;
        await this.changed(signal);
      }
    } finally {
      await reader.close();
    }
  }

  private hasFailed(): boolean {
    return this.stateValue === 'failed';
  }

  private changed(signal: AbortSignal): Promise<void> {
    signal.throwIfAborted();
    return new Promise<void>((resolve, reject) => {
      const onAbort = () => {
        this.wakeups.delete(wake);
        reject(signal.reason);
      };
      const wake = () => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      };
      this.wakeups.add(wake);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  private wake(): void {
    const wakeups = this.wakeups;
    this.wakeups = new Set();
    for (const wake of wakeups) wake();
  }
}

/** The fills in progress in one sidecar, by digest: at most one per blob. */
export class FillRegistry {
  private readonly fills = new Map<string, BlobFill>();

  get(digest: Digest): BlobFill | undefined {
    return this.fills.get(digest.value);
  }

  add(fill: BlobFill): void {
    this.fills.set(fill.digest.value, fill);
  }

  delete(fill: BlobFill): void {
    if (this.fills.get(fill.digest.value) === fill) this.fills.delete(fill.digest.value);
  }
}
