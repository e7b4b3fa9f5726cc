import { digestFromBytes, digestMismatch, type Digest } from '../oci/index.js';

/** A native incremental hasher for a digest's algorithm (workerd's crypto.DigestStream). */
export function createHasher(digest: Digest): { write(chunk: Uint8Array): Promise<void>; finish(): Promise<string> } {
  const stream = new crypto.DigestStream(digest.algorithm === 'sha256' ? 'SHA-256' : 'SHA-512');
  const writer = stream.getWriter();
  return {
    write: (chunk) => writer.write(chunk),
    async finish() {
      await writer.close();
      return digestFromBytes(digest.algorithm, await stream.digest);
    },
  };
}

/**
 * Passes bytes through while hashing them. The last chunk is held back until the digest is
 * known: on a mismatch the stream errors instead, so a reader never receives the complete
 * (wrong) content and an R2 put fed by it rejects.
 */
export function verifyingStream(digest: Digest, onChunk?: (bytes: number) => void): TransformStream<Uint8Array, Uint8Array> {
  const hasher = createHasher(digest);
  let held: Uint8Array | undefined;
  return new TransformStream<Uint8Array, Uint8Array>({
    async transform(chunk, controller) {
      onChunk?.(chunk.byteLength);
      await hasher.write(chunk);
      if (held) controller.enqueue(held);
      held = chunk;
    },
    async flush(controller) {
      const actual = await hasher.finish();
      if (actual !== digest.value) {
        controller.error(digestMismatch(digest.value, actual));
        return;
      }
      if (held) controller.enqueue(held);
    },
  });
}

/** Passes only bytes [offset, offset+length) and ends the stream after them. */
export function sliceStream(offset: number, length: number, onChunk?: (bytes: number) => void): TransformStream<Uint8Array, Uint8Array> {
  let position = 0;
  const end = offset + length;
  return new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, controller) {
      onChunk?.(chunk.byteLength);
      const start = position;
      position += chunk.byteLength;
      if (position <= offset || start >= end) return;
      controller.enqueue(chunk.subarray(Math.max(0, offset - start), Math.min(chunk.byteLength, end - start)));
      // Cancelling our side of the tee lets the store branch go on alone.
      if (position >= end) controller.terminate();
    },
  });
}
