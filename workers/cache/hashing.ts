import { digestFromBytes, type Digest } from '../shared/oci/index.js';

export interface Hasher {
  /** Hashes a chunk; once this resolves the caller may reuse the chunk's buffer. */
  write(chunk: Uint8Array): Promise<void>;
  finish(): Promise<string>;
}

/** A native incremental hasher for a digest's algorithm (workerd's crypto.DigestStream). */
export function createHasher(digest: Digest): Hasher {
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
