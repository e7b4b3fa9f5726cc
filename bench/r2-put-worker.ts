// Bench-only Worker (never part of the deployed bundle): started next to the edge by
// bench/edge-throughput.ts with the edge's own R2 bucket binding, it times putting N bytes of known
// length into the local R2 and nothing else — the ceiling a cold pull through the edge is judged
// against. GET /?bytes=N&pieceBytes=P: pieces of P bytes, each one put of a FixedLengthStream, two
// in flight (as the edge writes them); pieceBytes=0: one put of the whole length. Answers JSON.
//
// Types are declared structurally here so the file type-checks with the Node benchmark code.

interface R2Like {
  put(key: string, body: ReadableStream<Uint8Array>): Promise<unknown>;
  delete(keys: string[]): Promise<void>;
}

interface Env {
  BLOBS: R2Like;
}

declare class FixedLengthStream extends TransformStream<Uint8Array, Uint8Array> {
  constructor(length: number);
}

const CHUNK_BYTES = 1024 * 1024;
const MAX_BYTES = 4 * 1024 ** 3;

export interface PutResult {
  bytes: number;
  pieceBytes: number;
  seconds: number;
  mbPerSecond: number;
}

async function putStream(bucket: R2Like, key: string, length: number, chunk: Uint8Array): Promise<void> {
  const fixed = new FixedLengthStream(length);
  const put = bucket.put(key, fixed.readable);
  const writer = fixed.writable.getWriter();
  const inFlight: Promise<void>[] = [];
  for (let written = 0; written < length; written += chunk.byteLength) {
    inFlight.push(writer.write(chunk.subarray(0, Math.min(chunk.byteLength, length - written))));
    if (inFlight.length > 4) await inFlight.shift();
  }
  await writer.close();
  await put;
}

export default {
  async fetch(request: Request, env: Env): Promise<Response> {
    const url = new URL(request.url);
    const bytes = Math.min(MAX_BYTES, Math.max(1, Number(url.searchParams.get('bytes')) || 0));
    const pieceBytes = Math.max(0, Number(url.searchParams.get('pieceBytes')) || 0);
    const chunk = crypto.getRandomValues(new Uint8Array(65_536));
    const block = new Uint8Array(CHUNK_BYTES);
    for (let offset = 0; offset < CHUNK_BYTES; offset += chunk.byteLength) block.set(chunk, offset);
    const prefix = `bench-r2/${crypto.randomUUID()}`;
    const keys: string[] = [];
    const started = Date.now();
    if (pieceBytes === 0) {
      keys.push(prefix);
      await putStream(env.BLOBS, prefix, bytes, block);
    } else {
      const running: Promise<void>[] = [];
      for (let index = 0; index * pieceBytes < bytes; index++) {
        const key = `${prefix}/${index}`;
        keys.push(key);
        await running[index - 2];
        running[index] = putStream(env.BLOBS, key, Math.min(pieceBytes, bytes - index * pieceBytes), block);
      }
      await Promise.all(running);
    }
    const seconds = (Date.now() - started) / 1000;
    for (let i = 0; i < keys.length; i += 1000) await env.BLOBS.delete(keys.slice(i, i + 1000));
    const result: PutResult = { bytes, pieceBytes, seconds, mbPerSecond: bytes / 1e6 / seconds };
    return Response.json(result);
  },
};
