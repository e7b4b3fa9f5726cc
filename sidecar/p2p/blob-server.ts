import type { Connection, Stream } from '@libp2p/interface';
import { isOciError } from '../../workers/oci/index.js';
import type { SidecarHooks } from '../hooks.js';
import type { SidecarMetrics } from '../metrics.js';
import type { BlobStore } from '../store/blob-store.js';
import { IdleWatchdog } from './idle-watchdog.js';
import { StreamReader, writeChunk } from './stream-io.js';
import { BlobRequest, ProtocolError, WIRE_VERSION, encodeFrame, readFrame, type BlobResponse } from './wire.js';

const REQUEST_TIMEOUT_MS = 10_000;

export interface BlobServerDeps {
  store: BlobStore;
  metrics: SidecarMetrics;
  hooks: SidecarHooks;
  /** A receiver that takes no bytes for this long is dropped, freeing the stream and the open file. */
  idleTimeoutMs: number;
  signal: AbortSignal;
}

/** Stream handler for /fastreg/blob/1.0.0: one request frame in, a response frame and the bytes out. */
export function blobStreamHandler(deps: BlobServerDeps) {
  return async (stream: Stream, _connection: Connection): Promise<void> => {
    const reply = (response: Omit<BlobResponse, 'v'>) => writeChunk(stream, encodeFrame({ v: WIRE_VERSION, ...response }), deps.signal);
    try {
      const reader = new StreamReader(stream, 64 * 1024);
      let request: BlobRequest;
      try {
        request = await readFrame(reader, BlobRequest, AbortSignal.any([deps.signal, AbortSignal.timeout(REQUEST_TIMEOUT_MS)]));
      } catch (err) {
        if (!(err instanceof ProtocolError) && !isOciError(err)) throw err;
        await reply({ status: 'bad_request', message: err.message.slice(0, 500) });
        await stream.close();
        return;
      } finally {
        reader.dispose();
      }
      const info = await deps.store.stat(request.digest);
      if (!info) {
        await reply({ status: 'not_found' });
        await stream.close();
        return;
      }
      if (request.offset > info.size) {
        await reply({ status: 'bad_request', message: `offset ${request.offset} beyond size ${info.size}` });
        await stream.close();
        return;
      }
      const source = (await deps.store.open(request.digest, { offset: request.offset }))[Symbol.asyncIterator]();
      try {
        await reply({ status: 'ok', size: info.size, offset: request.offset });
      } catch (err) {
        await source.return?.();
        throw err;
      }
      let offset = request.offset;
      const idle = new IdleWatchdog(deps.idleTimeoutMs, `serving ${request.digest}`);
      const signal = AbortSignal.any([deps.signal, idle.signal]);
      try {
        for await (const chunk of { [Symbol.asyncIterator]: () => source }) {
          if (deps.hooks.beforeServeChunk) await deps.hooks.beforeServeChunk(chunk.byteLength);
          const bytes = deps.hooks.mutateServed ? deps.hooks.mutateServed(chunk, offset) : chunk;
          await writeChunk(stream, bytes, signal);
          idle.touch();
          offset += chunk.byteLength;
          deps.metrics.p2pBytesOut.inc(chunk.byteLength);
        }
      } finally {
        idle.dispose();
      }
      await stream.close({ signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
    } catch (err) {
      stream.abort(err instanceof Error ? err : new Error(String(err)));
    }
  };
}
