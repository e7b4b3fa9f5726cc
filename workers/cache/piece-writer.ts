import { digestMismatch, type Digest, OciError } from '../shared/oci/index.js';
import { pieceCount, pieceKey, pieceLength, type PieceLayout } from './pieces.js';
import { type Hasher, lumpReader } from './hashing.js';

/** Each read waits for at least this much (the stall watchdog is fed per read, so keep it small). */
const READ_MIN_BYTES = 64 * 1024;
const READ_MAX_BYTES = 1024 * 1024;
/**
 * Bytes are gathered into batches of this size before they are hashed and written: R2 takes a put's
 * stream far faster in big chunks (measured locally, fetch body → put: 25 MB/s in 64 KiB chunks,
 * 47 in 1 MiB, 58 in 4 MiB).
 */
const BATCH_BYTES = 4 * 1024 * 1024;
/** Batches handed to a piece's put before waiting for R2 to take the oldest. */
const WRITES_IN_FLIGHT = 2;
/** How long the read loop may run without letting other requests in. */
const YIELD_EVERY_MS = 20;
/** Pieces whose put may still be running: one being written and the one before it. */
const PIECES_IN_FLIGHT = 2;

export interface PieceWriteOptions {
  bucket: R2Bucket;
  digest: Digest;
  layout: PieceLayout;
  /** Pieces already in R2 and already fed to `hasher` (a takeover continues after them). */
  startPiece: number;
  /** Leading bytes of `body` that are already stored (an upstream that ignored a Range sends them again). */
  skipBytes?: number;
  hasher: Hasher;
  /** Called with each upstream lump's size: the stall watchdog and byte counters. */
  onChunk: (bytes: number) => void;
  /** Pieces 0..count-1 are in R2. Never called for the last piece: that one waits for the digest. */
  onPieces: (count: number) => Promise<void>;
}

/**
 * Writes `body` (the blob from byte startPiece*pieceBytes on) to R2 piece by piece, hashing each byte
 * once. Reading, hashing and the puts overlap, with at most PIECES_IN_FLIGHT puts running. Resolves
 * once every piece is stored and the digest of the whole blob matched; rejects otherwise (DIGEST_INVALID
 * for wrong bytes). Memory: the 1 MiB read buffer, the batch being filled and WRITES_IN_FLIGHT batches per piece in flight (at most 4 MiB each: about 21 MiB), whatever the blob size.
 */
export async function writePieces(options: PieceWriteOptions, body: ReadableStream<Uint8Array>): Promise<void> {
  const { layout, digest, hasher } = options;
  const count = pieceCount(layout);
  const reader = lumpReader(body, READ_MIN_BYTES, READ_MAX_BYTES);
  const puts: Promise<void>[] = [];
  let announced: Promise<void> = Promise.resolve();
  let piece: PiecePut | undefined;
  let index = options.startPiece;
  let skip = options.skipBytes ?? 0;
  let lastYield = Date.now();
  const batches = new BatchPool();
  let batch: Uint8Array | undefined;
  let filled = 0;
  const flush = async () => {
    if (!batch || !piece || filled === 0) return;
    const bytes = batch.subarray(0, filled);
    const whole = batch;
    batch = undefined;
    filled = 0;
    await hasher.write(bytes);
    const { consumed, room } = piece.write(bytes);
    batches.giveBack(whole, consumed);
    await room;
  };
  try {
    for (;;) {
      const lump = await reader.read();
      if (lump === undefined) break;
      // A fast upstream resolves reads back to back: without a turn of the event loop now and then the
      // isolate accepts no new request until the fill ends (measured: clients of a burst stuck for the
      // whole fill). A timer per lump costs more than the lump, so yield every YIELD_EVERY_MS.
      if (Date.now() - lastYield >= YIELD_EVERY_MS) {
        await new Promise((resolve) => setTimeout(resolve, 0));
        lastYield = Date.now();
      }
      options.onChunk(lump.byteLength);
      const skipped = Math.min(skip, lump.byteLength);
      skip -= skipped;
      for (let offset = skipped; offset < lump.byteLength; ) {
        if (!piece) {
          if (index >= count) throw new OciError('UPSTREAM_FAILED', `upstream sent more than the ${layout.size} bytes it announced`);
          // Bounded pieces in flight: the put from two pieces back must be done before a new one starts.
          await puts[index - PIECES_IN_FLIGHT];
          piece = openPiece(options.bucket, pieceKey(digest, index), pieceLength(layout, index));
        }
        // Only the last piece stays open when full (it waits for the digest): any byte now is one too many.
        if (piece.remaining === 0) throw new OciError('UPSTREAM_FAILED', `upstream sent more than the ${layout.size} bytes it announced`);
        // The read buffer is reused: bytes are copied into a batch that never spans two pieces.
        batch ??= batches.take();
        const take = Math.min(batch.byteLength - filled, piece.remaining - filled, lump.byteLength - offset);
        batch.set(lump.subarray(offset, offset + take), filled);
        filled += take;
        offset += take;
        if (filled < batch.byteLength && filled < piece.remaining) continue;
        await flush();
        if (piece.remaining > 0 || index === count - 1) continue;
        const stored = piece.close();
        puts[index] = stored;
        const done = index + 1;
        announced = Promise.all([announced, stored]).then(() => options.onPieces(done));
        announced.catch(() => undefined);
        piece = undefined;
        index++;
      }
    }
    await flush();
    if (!piece && layout.size === 0) piece = openPiece(options.bucket, pieceKey(digest, 0), 0);
    const received = index * layout.pieceBytes + (piece ? pieceLength(layout, index) - piece.remaining : 0);
    if (!piece || piece.remaining > 0 || index !== count - 1) {
      throw new OciError('UPSTREAM_FAILED', `upstream sent ${Math.min(received, layout.size)} of ${layout.size} bytes`);
    }
    const actual = await hasher.finish();
    if (actual !== digest.value) throw digestMismatch(digest.value, actual);
    const last = piece.close();
    piece = undefined;
    await Promise.all([announced, last, ...puts.slice(options.startPiece)]);
  } catch (err) {
    reader.cancel(err).catch(() => undefined);
    await piece?.abort(err);
    // A put still running could land after the caller deleted the pieces, and the stored ones
    // should be announced before the caller releases the lease, so a takeover continues after them.
    await Promise.allSettled([...puts, announced]);
    throw err;
  }
}

/**
 * Batch buffers, reused: a batch goes back to the pool once R2 took its bytes. Fresh 4 MiB buffers
 * cost the isolate's thread a kernel page zeroing and a memset each (about a tenth of a cold fill's
 * CPU, measured with perf), and the pool never holds more than the batches in flight.
 */
class BatchPool {
  private readonly free: Uint8Array[] = [];
  take(): Uint8Array {
    return this.free.pop() ?? new Uint8Array(BATCH_BYTES);
  }
  giveBack(batch: Uint8Array, consumed: Promise<void>): void {
    consumed.then(() => this.free.push(batch), () => undefined);
  }
}

interface PiecePut {
  /** Bytes of the piece not yet handed to write. */
  remaining: number;
  /** Hands bytes to the put: `consumed` settles once R2 took them (their buffer may then be reused), `room` once another write may follow. */
  write(bytes: Uint8Array): { consumed: Promise<void>; room: Promise<void> };
  /** Ends the piece's stream; resolves once R2 stored it. */
  close(): Promise<void>;
  abort(reason: unknown): Promise<void>;
}

/** One piece as one R2 put of a FixedLengthStream: streamed, never held whole in memory. */
function openPiece(bucket: R2Bucket, key: string, length: number): PiecePut {
  const fixed = new FixedLengthStream(length);
  const writer = fixed.writable.getWriter();
  const put = bucket.put(key, fixed.readable).then(() => undefined);
  // If the put fails without draining the stream, a pending write would never settle: race it with the put.
  const putFailed = put.then(
    () => new Promise<never>(() => undefined),
    (err: unknown) => Promise.reject(err),
  );
  putFailed.catch(() => undefined);
  put.catch(() => undefined);
  // A FixedLengthStream's writer is always "ready" (it queues without limit), so backpressure comes
  // from its write promises, which settle as R2 takes the bytes.
  const inFlight: Promise<void>[] = [];
  const handle: PiecePut = {
    remaining: length,
    write(bytes) {
      handle.remaining -= bytes.byteLength;
      const consumed = writer.write(bytes);
      consumed.catch(() => undefined);
      inFlight.push(consumed);
      const room = inFlight.length > WRITES_IN_FLIGHT ? Promise.race([inFlight.shift(), putFailed]) : Promise.resolve();
      return { consumed, room };
    },
    async close() {
      await Promise.race([writer.close(), putFailed]);
      await put;
    },
    async abort(reason) {
      await writer.abort(reason).catch(() => undefined);
      await put.catch(() => undefined);
    },
  };
  return handle;
}
