import { OciError, type Digest } from '../../workers/shared/oci/index.js';

// The sidecar's content-addressed store, spegel style: one small interface, a file-backed
// implementation and an in-memory fake beside it, both checked by one conformance suite. Digests
// arrive parsed (Digest), from where they entered the sidecar.

export interface BlobInfo {
  digest: string;
  size: number;
}

export interface BlobUsage {
  bytes: number;
  /** Capacity held for writes in flight (their declared size, or the bytes so far when none was declared). */
  reserved: number;
  count: number;
  capacity: number;
  evictions: number;
}

/** Positional reads of a blob that may still be filling; each reader holds its own file handle. */
export interface PartReader {
  read(position: number, length: number): Promise<Uint8Array>;
  close(): Promise<void>;
}

/** An in-progress write. Bytes are hashed as they arrive; `commit` verifies and publishes atomically. */
export interface BlobWriter {
  readonly digest: string;
  /** Bytes accepted so far: the offset a resumed transfer continues from. */
  readonly written: number;
  /** Bytes already in the temp file, which `openReader()` can read; at most `written`. */
  readonly readable: number;
  /** Calls `listener` whenever `readable` grows or the writer fails; returns the unsubscribe. */
  onReadable(listener: () => void): () => void;
  /** Reads the bytes written so far, and after commit the stored blob (the same file). */
  openReader(): Promise<PartReader>;
  /**
   * Declares the blob's full size before its bytes arrive. Refused (SIZE_INVALID) when it disagrees
   * with the expected size, and (PAYLOAD_TOO_LARGE, or 507 when the blobs in use leave no room)
   * when the store cannot hold it, so a lying source gets nothing written. The space stays held
   * for this write until it is committed or aborted.
   */
  reserve(size: number): Promise<void>;
  write(chunk: Uint8Array): Promise<void>;
  /** Verifies the digest (and size, if expected) and makes the blob visible under its name. */
  commit(): Promise<BlobInfo>;
  /** Drops everything written; nothing is left under the blob's name. */
  abort(): Promise<void>;
}

export interface OpenOptions {
  offset?: number;
  /** Bytes to read from `offset`; the rest of the blob when omitted. */
  length?: number;
}

/** The byte range an open() reads: offset and length checked against the blob's size (RANGE_INVALID otherwise). */
export function checkedRange(options: OpenOptions, size: number): { offset: number; length: number } {
  const offset = options.offset ?? 0;
  const length = options.length ?? size - offset;
  if (offset < 0 || length < 0 || offset + length > size) {
    throw new OciError('RANGE_INVALID', `range ${offset}+${length} is outside blob of ${size} bytes`);
  }
  return { offset, length };
}

export interface BlobStore {
  stat(digest: Digest): Promise<BlobInfo | undefined>;
  has(digest: Digest): Promise<boolean>;
  /** Streams a stored blob (throws BLOB_UNKNOWN when absent). The blob cannot be evicted while it is read. */
  open(digest: Digest, options?: OpenOptions): Promise<AsyncIterable<Uint8Array>>;
  /** Starts a verified write; the blob cannot be evicted to make room for itself. */
  beginWrite(digest: Digest, options?: { expectedSize?: number }): Promise<BlobWriter>;
  /** Streams `source` into the store, verifying the digest; nothing is stored on mismatch. */
  put(source: AsyncIterable<Uint8Array>, digest: Digest, options?: { expectedSize?: number }): Promise<BlobInfo>;
  delete(digest: Digest): Promise<boolean>;
  list(): Promise<BlobInfo[]>;
  usage(): BlobUsage;
}

/** Shared by both implementations so they fail the same way. */
export async function putVia(store: BlobStore, source: AsyncIterable<Uint8Array>, digest: Digest, expectedSize?: number): Promise<BlobInfo> {
  const writer = await store.beginWrite(digest, { expectedSize });
  try {
    for await (const chunk of source) await writer.write(chunk);
    return await writer.commit();
  } catch (err) {
    await writer.abort();
    throw err;
  }
}
