import { type Digest, OciError } from '../shared/oci/index.js';
import { pieceCount, pieceKey, pieceLength, type PieceLayout } from './pieces.js';

export interface PieceReadOptions {
  bucket: R2Bucket;
  digest: Digest;
  layout: PieceLayout;
  /** Byte range of the blob to send. */
  offset: number;
  length: number;
  /** Resolves once piece `index` may be read (at once for a stored blob); rejects to fail the stream. */
  ready: (index: number) => Promise<void>;
  onBytes?: (bytes: number) => void;
}

/**
 * The bytes [offset, offset+length) of a blob stored as pieces, read only from the pieces they
 * cover, each as soon as `ready` allows. Each piece's R2 body is piped natively into one
 * FixedLengthStream (no JavaScript per chunk, paced by the client); an error in any piece errors the
 * stream, so a client never sees a short body end cleanly.
 */
export function readPieces(options: PieceReadOptions): ReadableStream<Uint8Array> {
  const { bucket, digest, layout, offset, length } = options;
  const { readable, writable } = new FixedLengthStream(length);
  const end = offset + length;
  const first = Math.floor(offset / layout.pieceBytes);
  const last = length === 0 ? first - 1 : Math.min(pieceCount(layout) - 1, Math.floor((end - 1) / layout.pieceBytes));
  /** Piece `index`'s share of the range, opened once it may be read. */
  const open = async (index: number) => {
    await options.ready(index);
    const start = index * layout.pieceBytes;
    const from = Math.max(offset, start) - start;
    const to = Math.min(end, start + pieceLength(layout, index)) - start;
    const whole = from === 0 && to === pieceLength(layout, index);
    const object = await bucket.get(pieceKey(digest, index), whole ? undefined : { range: { offset: from, length: to - from } });
    if (!object) throw new OciError('BLOB_UNKNOWN', `piece ${index} of blob ${digest.value} is missing`);
    if (object.size !== pieceLength(layout, index)) {
      await object.body.cancel();
      throw new OciError('UNKNOWN', `piece ${index} of blob ${digest.value} has ${object.size} bytes, expected ${pieceLength(layout, index)}`);
    }
    return { body: object.body, bytes: to - from };
  };
  let next: ReturnType<typeof open> | undefined;
  const pump = async () => {
    // The next piece is opened while this one streams: an R2 get's latency per piece would otherwise
    // show in warm throughput. One piece ahead at most.
    next = first <= last ? open(first) : undefined;
    for (let index = first; index <= last; index++) {
      const current = await next!;
      next = index < last ? open(index + 1) : undefined;
      next?.catch(() => undefined);
      await current.body.pipeTo(writable, { preventClose: true });
      options.onBytes?.(current.bytes);
    }
    await writable.close();
  };
  pump().catch(async (err: unknown) => {
    next?.then((piece) => piece.body.cancel(), () => undefined).catch(() => undefined);
    console.warn(`blob ${digest.value} stream failed: ${err instanceof Error ? err.message : String(err)}`);
    await writable.abort(err).catch(() => undefined);
  });
  return readable;
}
