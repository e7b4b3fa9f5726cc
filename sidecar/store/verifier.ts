import { createHash, type Hash } from 'node:crypto';
import { OciError, digestMismatch, type Digest } from '../../workers/shared/oci/index.js';

/** Running digest and size check shared by the store implementations. */
export class DigestVerifier {
  private readonly hash: Hash;
  private bytes = 0;

  readonly digest: string;

  constructor(
    private readonly expected: Digest,
    private expectedBytes?: number,
  ) {
    this.digest = expected.value;
    this.hash = createHash(expected.algorithm);
  }

  get written(): number {
    return this.bytes;
  }

  get expectedSize(): number | undefined {
    return this.expectedBytes;
  }

  /** Throws unless `size` may be declared now: it agrees with the expected size and the bytes seen. */
  checkDeclared(size: number): void {
    if (this.expectedBytes !== undefined && size !== this.expectedBytes) {
      throw new OciError('SIZE_INVALID', `a size of ${size} bytes was declared for ${this.digest}, expected ${this.expectedBytes}`);
    }
    if (size < this.bytes) throw new OciError('SIZE_INVALID', `a size of ${size} bytes was declared for ${this.digest} after ${this.bytes} bytes`);
  }

  /** Holds the bytes to `size`, once a source has declared it. */
  expect(size: number): void {
    this.checkDeclared(size);
    this.expectedBytes = size;
  }

  update(chunk: Uint8Array): void {
    if (this.expectedBytes !== undefined && this.bytes + chunk.byteLength > this.expectedBytes) {
      throw new OciError('SIZE_INVALID', `more than the expected ${this.expectedBytes} bytes for ${this.digest}`);
    }
    this.hash.update(chunk);
    this.bytes += chunk.byteLength;
  }

  /** Throws DIGEST_INVALID / SIZE_INVALID unless the bytes seen match. */
  finish(): number {
    if (this.expectedBytes !== undefined && this.bytes !== this.expectedBytes) {
      throw new OciError('SIZE_INVALID', `got ${this.bytes} bytes for ${this.digest}, expected ${this.expectedBytes}`);
    }
    const actual = `${this.expected.algorithm}:${this.hash.digest('hex')}`;
    if (actual !== this.digest) throw digestMismatch(this.digest, actual);
    return this.bytes;
  }
}
