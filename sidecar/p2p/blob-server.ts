import type { Connection, Stream } from '@libp2p/interface';
import { isOciError } from '../../workers/shared/oci/index.js';
import type { LocalBlobs } from '../fill/local-blobs.js';
import type { SidecarHooks } from '../hooks.js';
import type { SidecarMetrics } from '../metrics.js';
import type { FanOut } from './fan-out.js';
import { TransferIdleSignal } from './transfer-idle-signal.js';
import { StreamReader, writeChunk } from './stream-io.js';
import { BlobRequest, WIRE_VERSION, encodeFrame, readFrame, type BlobResponse, type PeerPointer } from './wire.js';
import { ProtocolError } from '../errors.js';

const REQUEST_TIMEOUT_MS = 10_000;
/**
 * How long a request for a blob whose fill has not learnt its size yet waits for it: below the
 * default time a fetcher waits for an answer (--peer-idle-timeout), so an honest peer answers
 * `not_found` before it is taken for a silent one and penalized.
 */
const SIZE_WAIT_MS = 10_000;

export interface BlobServerDeps {
  blobs: LocalBlobs;
  fanOut: FanOut;
  /** Listen addresses of a peer, for pointing others at it. */
  addressesOf(peer: string): Promise<string[]>;
  metrics: SidecarMetrics;
  hooks: SidecarHooks;
  /** A receiver that takes no bytes for this long is dropped, freeing the stream and the open file. */
  idleTimeoutMs: number;
  signal: AbortSignal;
}

/**
 * Stream handler for /fastreg/blob/1.0.0: one request frame in, a response frame and the bytes out.
 * A blob that is still filling is served as it fills; past the fan-out bound the answer is `busy`
 * with pointers to peers receiving the blob (see fan-out.ts).
 */
export function blobStreamHandler(deps: BlobServerDeps) {
  return async (stream: Stream, connection: Connection): Promise<void> => {
    const reply = (response: Omit<BlobResponse, 'v'>) => writeChunk(stream, encodeFrame({ v: WIRE_VERSION, ...response }), deps.signal);
    const close = () => stream.close({ signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
    const asker = connection.remotePeer.toString();
    try {
      const reader = new StreamReader(stream, 64 * 1024);
      let request: BlobRequest;
      try {
        request = await readFrame(reader, BlobRequest, AbortSignal.any([deps.signal, AbortSignal.timeout(REQUEST_TIMEOUT_MS)]));
      } catch (err) {
        if (!(err instanceof ProtocolError) && !isOciError(err)) throw err;
        await reply({ status: 'bad_request', message: err.message.slice(0, 500) });
        await close();
        return;
      } finally {
        reader.dispose();
      }
      const digest = request.digest;
      let blob;
      try {
        blob = await deps.blobs.find(digest, AbortSignal.any([deps.signal, AbortSignal.timeout(SIZE_WAIT_MS)]));
      } catch {
        // The fill failed (or never learnt its size): this node has nothing valid to give.
        blob = undefined;
      }
      if (!blob || blob.size === undefined) {
        await reply({ status: 'not_found' });
        await close();
        return;
      }
      if (request.offset > blob.size) {
        await reply({ status: 'bad_request', message: `offset ${request.offset} beyond size ${blob.size}` });
        await close();
        return;
      }
      const slot = deps.fanOut.acquire(digest.value, asker);
      if (!slot) {
        deps.metrics.p2pBusy.inc();
        await reply({ status: 'busy', peers: await pointers(deps, digest.value, asker) });
        await close();
        return;
      }
      const idle = new TransferIdleSignal(deps.idleTimeoutMs, `serving ${digest.value}`);
      const signal = AbortSignal.any([deps.signal, idle.signal]);
      try {
        await reply({ status: 'ok', size: blob.size, offset: request.offset });
        let offset = request.offset;
        for await (const chunk of blob.read({ offset: request.offset }, signal)) {
          if (deps.hooks.beforeServeChunk) await deps.hooks.beforeServeChunk(chunk.byteLength);
          const bytes = deps.hooks.mutateServed ? deps.hooks.mutateServed(chunk, offset) : chunk;
          await writeChunk(stream, bytes, signal);
          idle.touch();
          offset += chunk.byteLength;
          slot.progress(chunk.byteLength);
          deps.metrics.p2pBytesOut.inc(chunk.byteLength);
        }
      } finally {
        idle.dispose();
        slot.release();
      }
      await close();
    } catch (err) {
      stream.abort(err instanceof Error ? err : new Error(String(err)));
    }
  };
}

async function pointers(deps: BlobServerDeps, digest: string, asker: string): Promise<PeerPointer[]> {
  return Promise.all(
    deps.fanOut.pointers(digest, asker).map(async (id) => ({ id, addrs: (await deps.addressesOf(id).catch(() => [])).slice(0, 4) })),
  );
}
