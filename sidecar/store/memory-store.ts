import { OciError, type Digest } from '../../workers/shared/oci/index.js';
import { checkedRange, putVia, type BlobInfo, type BlobStore, type BlobUsage, type BlobWriter, type OpenOptions } from './blob-store.js';
import { DigestVerifier } from './verifier.js';

/** In-memory fake of BlobStore for unit tests; same verification rules as the file store. */
export class MemoryBlobStore implements BlobStore {
  private readonly blobs = new Map<string, Uint8Array>();

  async stat(digest: Digest): Promise<BlobInfo | undefined> {
    const bytes = this.blobs.get(digest.value);
    return bytes ? { digest: digest.value, size: bytes.byteLength } : undefined;
  }

  async has(digest: Digest): Promise<boolean> {
    return this.blobs.has(digest.value);
  }

  async open(digest: Digest, options: OpenOptions = {}): Promise<AsyncIterable<Uint8Array>> {
    const bytes = this.blobs.get(digest.value);
    if (!bytes) throw new OciError('BLOB_UNKNOWN', `blob ${digest.value} is not stored here`);
    const { offset, length } = checkedRange(options, bytes.byteLength);
    const slice = bytes.subarray(offset, offset + length);
    return (async function* () {
      for (let at = 0; at < slice.byteLength; at += 64 * 1024) yield slice.subarray(at, at + 64 * 1024);
    })();
  }

  async beginWrite(digest: Digest, options: { expectedSize?: number } = {}): Promise<BlobWriter> {
    const canonical = digest.value;
    const verifier = new DigestVerifier(digest, options.expectedSize);
    const chunks: Uint8Array[] = [];
    const blobs = this.blobs;
    const listeners = new Set<() => void>();
    const notify = () => {
      for (const listener of listeners) listener();
    };
    return {
      digest: canonical,
      get written() {
        return verifier.written;
      },
      get readable() {
        return verifier.written;
      },
      onReadable(listener) {
        listeners.add(listener);
        return () => listeners.delete(listener);
      },
      async openReader() {
        return {
          async read(position, length) {
            const bytes = blobs.get(canonical) ?? Buffer.concat(chunks);
            return bytes.slice(position, position + length);
          },
          async close() {},
        };
      },
      async reserve(size) {
        verifier.expect(size);
      },
      async write(chunk) {
        verifier.update(chunk);
        chunks.push(chunk.slice());
        notify();
      },
      async commit() {
        const size = verifier.finish();
        blobs.set(canonical, Buffer.concat(chunks));
        return { digest: canonical, size };
      },
      async abort() {
        chunks.length = 0;
        notify();
      },
    };
  }

  put(source: AsyncIterable<Uint8Array>, digest: Digest, options: { expectedSize?: number } = {}): Promise<BlobInfo> {
    return putVia(this, source, digest, options.expectedSize);
  }

  async delete(digest: Digest): Promise<boolean> {
    return this.blobs.delete(digest.value);
  }

  async list(): Promise<BlobInfo[]> {
    return [...this.blobs].map(([digest, bytes]) => ({ digest, size: bytes.byteLength }));
  }

  usage(): BlobUsage {
    let bytes = 0;
    for (const blob of this.blobs.values()) bytes += blob.byteLength;
    return { bytes, reserved: 0, count: this.blobs.size, capacity: Number.POSITIVE_INFINITY, evictions: 0 };
  }
}
