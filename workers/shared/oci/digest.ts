import { OciError } from './errors.js';

export type DigestAlgorithm = 'sha256' | 'sha512';

export interface Digest {
  algorithm: DigestAlgorithm;
  hex: string;
  /** The canonical `algorithm:hex` string. */
  value: string;
}

const HEX_LENGTH: Record<DigestAlgorithm, number> = { sha256: 64, sha512: 128 };
// OCI image-spec digest grammar.
const DIGEST_GRAMMAR = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;

export function isDigestLike(value: string): boolean {
  return DIGEST_GRAMMAR.test(value);
}

/** Parses and validates a digest; throws DIGEST_INVALID with the reason. */
export function parseDigest(value: string): Digest {
  if (value.length > 200 || !DIGEST_GRAMMAR.test(value)) {
    throw new OciError('DIGEST_INVALID', `invalid digest "${truncate(value)}": expected algorithm:hex`);
  }
  const colon = value.indexOf(':');
  const algorithm = value.slice(0, colon);
  const hex = value.slice(colon + 1);
  if (algorithm !== 'sha256' && algorithm !== 'sha512') {
    throw new OciError('DIGEST_INVALID', `unsupported digest algorithm "${truncate(algorithm)}": use sha256 or sha512`);
  }
  if (hex.length !== HEX_LENGTH[algorithm] || !/^[a-f0-9]+$/.test(hex)) {
    throw new OciError(
      'DIGEST_INVALID',
      `invalid ${algorithm} digest: expected ${HEX_LENGTH[algorithm]} lowercase hex characters`,
    );
  }
  return { algorithm, hex, value: `${algorithm}:${hex}` };
}

export function digestFromBytes(algorithm: DigestAlgorithm, bytes: ArrayBuffer | Uint8Array): string {
  const view = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  return `${algorithm}:${toHex(view)}`;
}

export function toHex(bytes: Uint8Array): string {
  let out = '';
  for (const byte of bytes) out += byte.toString(16).padStart(2, '0');
  return out;
}

/** WebCrypto digest of a small buffer (manifests). Blobs are hashed while streaming instead. */
export async function digestOf(bytes: Uint8Array, algorithm: DigestAlgorithm = 'sha256'): Promise<string> {
  const name = algorithm === 'sha256' ? 'SHA-256' : 'SHA-512';
  const hash = await crypto.subtle.digest(name, bytes as Uint8Array<ArrayBuffer>);
  return digestFromBytes(algorithm, hash);
}

export function digestMismatch(expected: string, actual: string): OciError {
  return new OciError('DIGEST_INVALID', `content digest ${actual} does not match requested digest ${expected}`, {
    detail: { expected, actual },
  });
}

function truncate(value: string): string {
  return value.length > 80 ? `${value.slice(0, 77)}...` : value;
}
