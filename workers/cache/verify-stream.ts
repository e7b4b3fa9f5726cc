import { digestFromBytes, type Digest } from '../oci/index.js';

export interface Hasher {
  /** Queues a chunk; waits only when the hasher's queue is full, not for each chunk to be hashed. */
  write(chunk: Uint8Array): Promise<void>;
  finish(): Promise<string>;
}

/** A native incremental hasher for a digest's algorithm (workerd's crypto.DigestStream). */
export function createHasher(digest: Digest): Hasher {
  const stream = new crypto.DigestStream(digest.algorithm === 'sha256' ? 'SHA-256' : 'SHA-512');
  const writer = stream.getWriter();
  return {
    async write(chunk) {
      if (writer.desiredSize !== null && writer.desiredSize <= 0) await writer.ready;
      // A failed write also fails close(), so finish() reports it.
      writer.write(chunk).catch(() => undefined);
    },
    async finish() {
      await writer.close();
      return digestFromBytes(digest.algorithm, await stream.digest);
    },
  };
}

/**
 * Reads a (native) byte stream in lumps of at least `minBytes` (except the last), up to `maxBytes`:
 * fetch bodies arrive in ~4 KiB chunks, and each JS read of one costs far more than the bytes do.
 * The same buffer is read into each time, so the caller must copy what it keeps.
 */
export function lumpReader(stream: ReadableStream<Uint8Array>, minBytes: number, maxBytes: number) {
  const reader = stream.getReader({ mode: 'byob' });
  let buffer = new ArrayBuffer(maxBytes);
  return {
    /** The next lump, or undefined at the end. */
    async read(): Promise<Uint8Array | undefined> {
      for (;;) {
        const { done, value } = await reader.readAtLeast(minBytes, new Uint8Array(buffer));
        if (value) buffer = value.buffer as ArrayBuffer;
        if (value && value.byteLength > 0) return value;
        if (done) return undefined;
      }
    },
    cancel: (reason?: unknown) => reader.cancel(reason),
  };
}

/** Lump sizes for the client's copy of a blob: a few reads per MiB. */
const CLIENT_MIN_BYTES = 64 * 1024;
const CLIENT_MAX_BYTES = 256 * 1024;
/** How far the client may read ahead of the store side (the tee holds that much for the store). */
const CLIENT_LEAD_BYTES = 8 * 1024 * 1024;

/**
 * The client's copy of a blob that is hashed elsewhere (by the store side, once). With `verify`,
 * bytes pass through unchanged but the last lump is held back until the store's verdict settles:
 * on a mismatch the stream errors instead, so a client never receives the complete wrong blob.
 * (A range of a blob cannot be verified before it is sent; it passes `verify: false`.)
 * Pull-based with no queue of its own, so a slow client paces the (native) tee instead of being
 * buffered for; nor does it run more than CLIENT_LEAD_BYTES ahead of the store side.
 */
export function clientCopy(
  source: ReadableStream<Uint8Array>,
  store: { verdict: Promise<Error | undefined>; whenRead(bytes: number): Promise<void> },
  options: { verify: boolean; onCancel?: () => void },
): ReadableStream<Uint8Array> {
  const reader = lumpReader(source, CLIENT_MIN_BYTES, CLIENT_MAX_BYTES);
  let held: Uint8Array | undefined;
  let received = 0;
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        for (;;) {
          // The tee holds back for the slower branch whatever the faster one has read: when the store
          // side (paced by R2) is the slower one, the client waits here instead.
          await store.whenRead(received - CLIENT_LEAD_BYTES);
          const value = await reader.read();
          if (value === undefined) {
            const error = options.verify ? await store.verdict : undefined;
            if (error) {
              controller.error(error);
              return;
            }
            if (held) controller.enqueue(held);
            controller.close();
            return;
          }
          received += value.byteLength;
          const previous = held;
          // The read buffer is reused: keep an exactly-sized copy.
          held = value.slice();
          if (previous) {
            controller.enqueue(previous);
            return;
          }
        }
      },
      cancel(reason) {
        options.onCancel?.();
        return reader.cancel(reason);
      },
    },
    { highWaterMark: 0 },
  );
}

/** Passes only bytes [offset, offset+length) and ends the stream after them. */
export function sliceStream(offset: number, length: number): TransformStream<Uint8Array, Uint8Array> {
  let position = 0;
  const end = offset + length;
  return new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, controller) {
      const start = position;
      position += chunk.byteLength;
      if (position <= offset || start >= end) return;
      controller.enqueue(chunk.subarray(Math.max(0, offset - start), Math.min(chunk.byteLength, end - start)));
      // Cancelling our side of the tee lets the store branch go on alone.
      if (position >= end) controller.terminate();
    },
  });
}
