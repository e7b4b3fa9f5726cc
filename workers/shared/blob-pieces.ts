import type { Digest } from './oci/index.js';

// Where the pieces of a blob live in R2 (workers/cache/pieces.ts has the rest of the layout): shared
// by the edge, which writes and reads them, and the blob's BlobLease, which deletes those of an
// abandoned fill.

export interface PieceLayout {
  size: number;
  pieceBytes: number;
}

export function pieceKey(digest: Digest, index: number): string {
  return `pieces/${digest.algorithm}/${digest.hex}/${index}`;
}

export function pieceCount({ size, pieceBytes }: PieceLayout): number {
  return Math.max(1, Math.ceil(size / pieceBytes));
}

/** Deletes every piece a blob of this layout may have, in R2's batches of at most 1,000 keys. */
export async function deletePieces(bucket: { delete(keys: string[]): Promise<unknown> }, digest: Digest, layout: PieceLayout): Promise<void> {
  const keys = Array.from({ length: pieceCount(layout) }, (_, i) => pieceKey(digest, i));
  for (let i = 0; i < keys.length; i += 1000) await bucket.delete(keys.slice(i, i + 1000));
}
