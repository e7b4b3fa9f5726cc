import { createHash, type Hash } from 'node:crypto';
import { OciError, digestMismatch, type Digest } from '../../workers/oci/index.js';

/** Running digest and size check shared by the store implementations. */
export class DigestVerifier {
  private readonly hash: Hash;
  private bytes = 0;

  readonly digest: string;

  constructor(
    private readonly expected: Digest,
    readonly expectedSize?: number,
  ) {
    this.digest = expected.value;
    this.hash = createHash(expected.algorithm);
  }

  get written(): number {
    return this.bytes;
  }

  update(chunk: Uint8Array): void {
    if (this.expectedSize !== undefined && this.bytes + chunk.byteLength > this.expectedSize) {
      throw new OciError('SIZE_INVALID', `more than the expected ${this.expectedSize} bytes for ${this.digest}`);
    }
    this.hash.update(chunk);
    this.bytes += chunk.byteLength;
  }

  /** Throws DIGEST_INVALID / SIZE_INVALID unless the bytes seen match. */
  finish(): number {
    if (this.expectedSize !== undefined && this.bytes !== this.expectedSize) {
      throw new OciError('SIZE_INVALID', `got ${this.bytes} bytes for ${this.digest}, expected ${this.expectedSize}`);
    }
    const actual = `${this.expected.algorithm}:${this.hash.digest('hex')}`;
    if (actual !== this.digest) throw digestMismatch(this.digest, actual);
    return this.bytes;
  }
}
