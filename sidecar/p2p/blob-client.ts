import type { PeerId } from '@libp2p/interface';
import { BLOB_PROTOCOL, DIAL_TIMEOUT_MS } from '../node/constants.js';
import type { SidecarLibp2p } from '../node/create-node.js';
import type { SidecarHooks } from '../hooks.js';
import type { SidecarMetrics } from '../metrics.js';
import type { BlobWriter } from '../store/blob-store.js';
import { IdleWatchdog } from './idle-watchdog.js';
import { StreamReader, writeChunk } from './stream-io.js';
import { BlobResponse, ProtocolError, WIRE_VERSION, encodeFrame, readFrame } from './wire.js';

/** The peer answered but does not hold the blob: try the next provider, no penalty. */
export class PeerLacksBlobError extends Error {
  override name = 'PeerLacksBlobError';
}

/** The peer misbehaved at the protocol level (wrong size, too many bytes): penalize it. */
export class PeerMisbehavedError extends Error {
  override name = 'PeerMisbehavedError';
}

export interface PeerFetchResult {
  size: number;
  bytes: number;
}

/**
 * Streams a blob from one peer into `writer`, continuing at `writer.written` (a resumed transfer).
 * Returns once the peer has sent everything up to `size`; throws on a cut, which the caller may
 * resume elsewhere because the writer keeps what it has.
 */
export async function fetchFromPeer(
  node: SidecarLibp2p,
  peer: PeerId,
  writer: BlobWriter,
  deps: { metrics: SidecarMetrics; hooks: SidecarHooks; expectedSize?: number; idleTimeoutMs: number; signal: AbortSignal },
): Promise<PeerFetchResult> {
  const dialSignal = AbortSignal.any([deps.signal, AbortSignal.timeout(DIAL_TIMEOUT_MS)]);
  const stream = await node.dialProtocol(peer, BLOB_PROTOCOL, { signal: dialSignal });
  const reader = new StreamReader(stream);
  const start = writer.written;
  const idle = new IdleWatchdog(deps.idleTimeoutMs, `fetch of ${writer.digest} from ${peer}`);
  const signal = AbortSignal.any([deps.signal, idle.signal]);
  try {
    await writeChunk(stream, encodeFrame({ v: WIRE_VERSION, digest: writer.digest, offset: start }), deps.signal);
    const header = await readFrame(reader, BlobResponse, dialSignal);
    if (header.status === 'not_found') throw new PeerLacksBlobError(`${peer} does not hold ${writer.digest}`);
    if (header.status !== 'ok' || header.size === undefined) {
      throw new PeerMisbehavedError(`${peer} answered ${header.status}: ${header.message ?? ''}`);
    }
    if (header.offset !== start) throw new PeerMisbehavedError(`${peer} answered offset ${header.offset}, asked ${start}`);
    if (deps.expectedSize !== undefined && header.size !== deps.expectedSize) {
      throw new PeerMisbehavedError(`${peer} says ${header.size} bytes, other providers said ${deps.expectedSize}`);
    }
    const size = header.size;
    for (;;) {
      const chunk = await reader.read(signal);
      if (!chunk) break;
      idle.touch();
      if (writer.written + chunk.byteLength > size) throw new PeerMisbehavedError(`${peer} sent more than ${size} bytes`);
      if (deps.hooks.beforeReceiveChunk) await deps.hooks.beforeReceiveChunk(chunk.byteLength);
      await writer.write(chunk);
      deps.metrics.p2pBytesIn.inc(chunk.byteLength);
    }
    if (writer.written !== size) throw new ProtocolError(`stream from ${peer} ended at ${writer.written} of ${size} bytes`);
    await stream.close({ signal: AbortSignal.timeout(DIAL_TIMEOUT_MS) }).catch(() => undefined);
    return { size, bytes: writer.written - start };
  } catch (err) {
    stream.abort(err instanceof Error ? err : new Error(String(err)));
    throw err;
  } finally {
    idle.dispose();
    reader.dispose();
  }
}
