import { digestMismatch, type Digest, MediaType, OciError } from '../oci/index.js';
import { createHasher, verifyingStream } from './verify-stream.js';

export interface BlobWriteOptions {
  bucket: R2Bucket;
  key: string;
  digest: Digest;
  /** Called with each chunk's size: feeds the stall watchdog and byte counters. */
  onChunk: (bytes: number) => void;
}

function metadata(digest: Digest): R2PutOptions {
  return {
    httpMetadata: { contentType: MediaType.OctetStream },
    customMetadata: { digest: digest.value, storedAt: new Date().toISOString() },
  };
}

/**
 * One R2 put of a known-length stream. The bytes pass a verifying step that errors the stream on a
 * digest mismatch, and R2 checks the checksum itself too, so a wrong blob is never stored.
 */
export async function putVerifiedBlob(options: BlobWriteOptions, body: ReadableStream<Uint8Array>, size: number): Promise<number> {
  const { bucket, key, digest, onChunk } = options;
  const fixed = new FixedLengthStream(size);
  const piping = body.pipeThrough(verifyingStream(digest, onChunk)).pipeTo(fixed.writable);
  piping.catch(() => undefined);
  const checksum = digest.algorithm === 'sha256' ? { sha256: digest.hex } : { sha512: digest.hex };
  await bucket.put(key, fixed.readable, { ...metadata(digest), ...checksum });
  await piping;
  return size;
}

/**
 * R2 multipart upload for big or unknown-length blobs. Parts are gathered one at a time in memory
 * (at most partBytes); all but the last have the same size, as R2 requires. On a digest or length
 * mismatch, or any error, the upload is aborted, never completed.
 */
export async function putVerifiedBlobMultipart(
  options: BlobWriteOptions,
  body: ReadableStream<Uint8Array>,
  partBytes: number,
  expectedSize?: number,
): Promise<number> {
  const { bucket, key, digest, onChunk } = options;
  const upload = await bucket.createMultipartUpload(key, metadata(digest));
  const reader = body.getReader();
  try {
    const hasher = createHasher(digest);
    const parts: R2UploadedPart[] = [];
    let part = new Uint8Array(partBytes);
    let filled = 0;
    let total = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      onChunk(value.byteLength);
      total += value.byteLength;
      for (let offset = 0; offset < value.byteLength; ) {
        const take = Math.min(partBytes - filled, value.byteLength - offset);
        part.set(value.subarray(offset, offset + take), filled);
        filled += take;
        offset += take;
        if (filled === partBytes) {
          await hasher.write(part);
          parts.push(await upload.uploadPart(parts.length + 1, part));
          onChunk(0);
          part = new Uint8Array(partBytes);
          filled = 0;
        }
      }
    }
    if (filled > 0 || parts.length === 0) {
      const last = part.slice(0, filled);
      await hasher.write(last);
      parts.push(await upload.uploadPart(parts.length + 1, last));
    }
    const actual = await hasher.finish();
    if (actual !== digest.value) throw digestMismatch(digest.value, actual);
    if (expectedSize !== undefined && total !== expectedSize) {
      throw new OciError('UPSTREAM_FAILED', `upstream sent ${total} bytes, expected ${expectedSize}`);
    }
    await upload.complete(parts);
    return total;
  } catch (err) {
    reader.cancel(err).catch(() => undefined);
    await upload.abort().catch(() => undefined);
    throw err;
  }
}
