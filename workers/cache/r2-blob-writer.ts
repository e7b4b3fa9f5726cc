import { digestMismatch, type Digest, MediaType, OciError } from '../oci/index.js';
import { createHasher, lumpReader } from './verify-stream.js';

/** Upstream bytes are gathered to about this size before they are hashed and written. */
const BATCH_BYTES = 1024 * 1024;
/** Each read waits for at least this much (the stall watchdog is fed per read, so keep it small). */
const READ_MIN_BYTES = 64 * 1024;
/** Batches handed to a single put's stream before waiting for R2 to take the oldest. */
const SINGLE_PUT_BATCHES_IN_FLIGHT = 4;

export interface BlobWriteOptions {
  bucket: R2Bucket;
  key: string;
  digest: Digest;
  /** Called with each upstream chunk's size, whether or not R2 still takes it: the stall watchdog and byte counters. */
  onChunk: (bytes: number) => void;
  /** Called whenever bytes move towards R2 (not after the R2 write failed): the blob lease is renewed only while they do. */
  onProgress: () => void;
}

/** Where verified bytes go: one R2 put or a multipart upload. */
interface BlobSink {
  write(batch: Uint8Array): Promise<void>;
  finish(): Promise<void>;
  abort(reason: unknown): Promise<void>;
}

export interface VerifiedStore {
  /** The digest check of exactly the bytes read for R2: undefined when they match, else the error. Never rejects. */
  verdict: Promise<Error | undefined>;
  /** Resolves with the size once R2 holds the verified blob; rejects (soon after it happens) on any failure. */
  stored: Promise<number>;
  /** Settles when the upstream body is no longer read. */
  finished: Promise<void>;
  /** Resolves once this side has read at least `bytes` of the body (or stopped reading). */
  whenRead(bytes: number): Promise<void>;
}

export interface VerifiedStoreOptions extends BlobWriteOptions {
  /** The upstream Content-Length; the store fails if the body is longer or shorter. */
  expectedSize?: number;
  /** Below this size (known in advance) one R2 put; otherwise (or unknown size) multipart. */
  multipartThresholdBytes: number;
  multipartPartBytes: number;
  /**
   * Whether someone still waits for `verdict`. After an R2 failure the body is still read and
   * hashed for an attached client; once none is, reading stops.
   */
  clientAttached: () => boolean;
}

/**
 * Reads `body` in one loop that hashes each byte once and writes it to R2, batching small chunks.
 * The last batch is held back until the digest is known: on a mismatch (or wrong length) the R2 put
 * or multipart upload is aborted, never completed, and R2 checks a single put's checksum itself too.
 * Memory is bounded: one batch plus the sink's own buffer (a multipart part); R2's pace paces the reads.
 */
export function storeVerifiedBlob(options: VerifiedStoreOptions, body: ReadableStream<Uint8Array>): VerifiedStore {
  const { digest, expectedSize, onChunk, onProgress, clientAttached } = options;
  const verdict = deferred<Error | undefined>();
  const stored = deferred<number>();
  stored.promise.catch(() => undefined);
  const reader = lumpReader(body, READ_MIN_BYTES, BATCH_BYTES);
  const hasher = createHasher(digest);
  let sink: BlobSink | undefined;
  let sinkError: unknown;
  let total = 0;
  let ended = false;
  let waiter: { bytes: number; resolve: () => void } | undefined;
  const wake = () => {
    if (waiter && (ended || total >= waiter.bytes)) {
      waiter.resolve();
      waiter = undefined;
    }
  };
  const whenRead = (bytes: number) =>
    ended || total >= bytes ? Promise.resolve() : new Promise<void>((resolve) => (waiter = { bytes, resolve }));

  const failSink = async (err: unknown) => {
    if (sinkError !== undefined) return;
    sinkError = err ?? new Error('R2 write failed');
    stored.reject(sinkError);
    await sink?.abort(sinkError).catch(() => undefined);
  };
  const toSink = async (batch: Uint8Array) => {
    if (sink === undefined || sinkError !== undefined || batch.byteLength === 0) return;
    try {
      await sink.write(batch);
      // A slow R2 write is not a stalled upstream.
      onChunk(0);
      onProgress();
    } catch (err) {
      await failSink(err);
    }
  };

  const run = async () => {
    // Bytes are copied out of the (reused) read buffer into one batch buffer at a time, so the
    // garbage per blob is about its own size.
    let batch = new Uint8Array(BATCH_BYTES);
    let filled = 0;
    try {
      try {
        sink =
          expectedSize !== undefined && expectedSize < options.multipartThresholdBytes
            ? openSinglePut(options, expectedSize)
            : await openMultipart(options, options.multipartPartBytes);
      } catch (err) {
        await failSink(err);
      }
      for (;;) {
        if (sinkError !== undefined && !clientAttached()) throw sinkError;
        const value = await reader.read();
        if (value === undefined) break;
        onChunk(value.byteLength);
        if (sinkError === undefined) onProgress();
        total += value.byteLength;
        wake();
        if (expectedSize !== undefined && total > expectedSize) {
          throw new OciError('UPSTREAM_FAILED', `upstream sent more than the ${expectedSize} bytes it announced`);
        }
        for (let offset = 0; offset < value.byteLength; ) {
          // A full batch goes out only once more bytes arrive: the last one is always held back.
          if (filled === BATCH_BYTES) {
            await hasher.write(batch);
            await toSink(batch);
            batch = new Uint8Array(BATCH_BYTES);
            filled = 0;
          }
          const take = Math.min(BATCH_BYTES - filled, value.byteLength - offset);
          batch.set(value.subarray(offset, offset + take), filled);
          filled += take;
          offset += take;
        }
      }
      const last = batch.subarray(0, filled);
      await hasher.write(last);
      const actual = await hasher.finish();
      if (actual !== digest.value) throw digestMismatch(digest.value, actual);
      if (expectedSize !== undefined && total !== expectedSize) {
        throw new OciError('UPSTREAM_FAILED', `upstream sent ${total} bytes, expected ${expectedSize}`);
      }
      verdict.resolve(undefined);
      await toSink(last);
      if (sink !== undefined && sinkError === undefined) {
        try {
          await sink.finish();
          stored.resolve(total);
        } catch (err) {
          await failSink(err);
        }
      }
    } catch (err) {
      reader.cancel(err).catch(() => undefined);
      verdict.resolve(err instanceof Error ? err : new Error(String(err)));
      await failSink(err);
    }
  };
  const finished = run().finally(() => {
    ended = true;
    wake();
  });
  return { verdict: verdict.promise, stored: stored.promise, finished, whenRead };
}

function openSinglePut(options: BlobWriteOptions, size: number): BlobSink {
  const { bucket, key, digest } = options;
  const fixed = new FixedLengthStream(size);
  const writer = fixed.writable.getWriter();
  const checksum = digest.algorithm === 'sha256' ? { sha256: digest.hex } : { sha512: digest.hex };
  const put = bucket.put(key, fixed.readable, { ...metadata(digest), ...checksum });
  // If the put fails without draining the stream, a pending write would never settle: race it with the put.
  const putFailed = put.then(
    () => new Promise<never>(() => undefined),
    (err: unknown) => Promise.reject(err),
  );
  putFailed.catch(() => undefined);
  // A FixedLengthStream's writer is always "ready" (it queues without limit), so backpressure comes
  // from its write promises, which settle as R2 takes the bytes: a few batches in flight at most.
  const inFlight: Promise<void>[] = [];
  return {
    async write(batch) {
      const written = writer.write(batch);
      written.catch(() => undefined);
      inFlight.push(written);
      if (inFlight.length > SINGLE_PUT_BATCHES_IN_FLIGHT) await Promise.race([inFlight.shift(), putFailed]);
    },
    async finish() {
      await Promise.race([writer.close(), putFailed]);
      await put;
    },
    async abort(reason) {
      await writer.abort(reason).catch(() => undefined);
      await put.catch(() => undefined);
    },
  };
}

/** Parts are gathered one at a time in memory (partBytes); all but the last have the same size, as R2 requires. */
async function openMultipart(options: BlobWriteOptions, partBytes: number): Promise<BlobSink> {
  const { bucket, key, digest } = options;
  const upload = await bucket.createMultipartUpload(key, metadata(digest));
  const parts: R2UploadedPart[] = [];
  let part = new Uint8Array(partBytes);
  let filled = 0;
  return {
    async write(batch) {
      for (let offset = 0; offset < batch.byteLength; ) {
        const take = Math.min(partBytes - filled, batch.byteLength - offset);
        part.set(batch.subarray(offset, offset + take), filled);
        filled += take;
        offset += take;
        if (filled === partBytes) {
          parts.push(await upload.uploadPart(parts.length + 1, part));
          part = new Uint8Array(partBytes);
          filled = 0;
        }
      }
    },
    async finish() {
      if (filled > 0 || parts.length === 0) parts.push(await upload.uploadPart(parts.length + 1, part.slice(0, filled)));
      await upload.complete(parts);
    },
    async abort() {
      await upload.abort();
    },
  };
}

function metadata(digest: Digest): R2PutOptions {
  return {
    httpMetadata: { contentType: MediaType.OctetStream },
    customMetadata: { digest: digest.value, storedAt: new Date().toISOString() },
  };
}

function deferred<T>() {
  let resolve!: (value: T) => void;
  let reject!: (reason: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}
