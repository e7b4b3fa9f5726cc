import type { PeerId, Stream } from '@libp2p/interface';
import { BLOB_PROTOCOL, DIAL_TIMEOUT_MS } from '../node/constants.js';
import type { SidecarLibp2p } from '../node/create-node.js';
import type { SidecarHooks } from '../hooks.js';
import type { SidecarMetrics } from '../metrics.js';
import { isOciError, type Digest } from '../../workers/shared/oci/index.js';
import { TransferIdleSignal } from './transfer-idle-signal.js';
import { StreamReader, writeChunk } from './stream-io.js';
import { BlobResponse, WIRE_VERSION, encodeFrame, readFrame, type PeerPointer } from './wire.js';
import { ProtocolError, PeerLacksBlobError, PeerMisbehavedError, PeerSilentError, PeerBusyError } from '../errors.js';

/** Where received bytes go: a fill (sidecar/fill/blob-fill.ts), resumed at `written`. */
export interface FetchTarget {
  readonly digest: Digest;
  readonly written: number;
  readonly size: number | undefined;
  /** Throws when the size disagrees with what another source said, or when the store cannot hold it. */
  setSize(size: number): Promise<void>;
  write(chunk: Uint8Array): Promise<void>;
}

export interface PeerFetchResult {
  size: number;
  bytes: number;
}

/**
 * Streams a blob from one peer into `target`, continuing at `target.written` (a resumed transfer).
 * The peer may itself be filling the blob. Returns once the peer has sent everything up to `size`;
 * throws on a cut, which the caller may resume elsewhere because the target keeps what it has.
 */
export async function fetchFromPeer(
  node: SidecarLibp2p,
  peer: PeerId,
  target: FetchTarget,
  deps: { metrics: SidecarMetrics; hooks: SidecarHooks; idleTimeoutMs: number; signal: AbortSignal },
): Promise<PeerFetchResult> {
  const digest = target.digest.value;
  // The dial and the answer share one deadline: a peer that misses it stalled this fetch.
  const answerBy = AbortSignal.timeout(deps.idleTimeoutMs);
  const dialMs = Math.min(deps.idleTimeoutMs, DIAL_TIMEOUT_MS);
  const dialBy = AbortSignal.timeout(dialMs);
  let stream: Stream;
  try {
    stream = await node.dialProtocol(peer, BLOB_PROTOCOL, { signal: AbortSignal.any([deps.signal, dialBy]) });
  } catch (err) {
    // A refused dial fails at once and costs nothing; one that hangs stalls every fetch that tries it.
    if (!deps.signal.aborted && dialBy.aborted) throw new PeerSilentError(`${peer} opened no stream within ${dialMs} ms`);
    throw err;
  }
  const reader = new StreamReader(stream);
  const start = target.written;
  const idle = new TransferIdleSignal(deps.idleTimeoutMs, `fetch of ${digest} from ${peer}`);
  const signal = AbortSignal.any([deps.signal, idle.signal]);
  try {
    await writeChunk(stream, encodeFrame({ v: WIRE_VERSION, digest, offset: start }), deps.signal);
    let header: BlobResponse;
    try {
      header = await readFrame(reader, BlobResponse, AbortSignal.any([deps.signal, answerBy]));
    } catch (err) {
      if (!deps.signal.aborted && answerBy.aborted) throw new PeerSilentError(`${peer} sent no answer within ${deps.idleTimeoutMs} ms`);
      throw err;
    }
    if (header.status === 'not_found') throw new PeerLacksBlobError(`${peer} does not hold ${digest}`);
    if (header.status === 'busy') throw new PeerBusyError(`${peer} is streaming ${digest} to as many peers as it allows`, header.peers ?? []);
    if (header.status !== 'ok' || header.size === undefined) {
      throw new PeerMisbehavedError(`${peer} answered ${header.status}: ${header.message ?? ''}`);
    }
    if (header.offset !== start) throw new PeerMisbehavedError(`${peer} answered offset ${header.offset}, asked ${start}`);
    try {
      // Before any byte is read: a size the store cannot hold is refused with nothing written.
      await target.setSize(header.size);
    } catch (err) {
      if (isOciError(err) && err.code === 'SIZE_INVALID') throw new PeerMisbehavedError(`${peer}: ${err.message}`);
      throw err;
    }
    const size = header.size;
    for (;;) {
      const chunk = await reader.read(signal);
      if (!chunk) break;
      idle.touch();
      if (target.written + chunk.byteLength > size) throw new PeerMisbehavedError(`${peer} sent more than ${size} bytes`);
      if (deps.hooks.beforeReceiveChunk) await deps.hooks.beforeReceiveChunk(chunk.byteLength);
      await target.write(chunk);
      deps.metrics.p2pBytesIn.inc(chunk.byteLength);
    }
    if (target.written !== size) throw new ProtocolError(`stream from ${peer} ended at ${target.written} of ${size} bytes`);
    await stream.close({ signal: AbortSignal.timeout(DIAL_TIMEOUT_MS) }).catch(() => undefined);
    return { size, bytes: target.written - start };
  } catch (err) {
    stream.abort(err instanceof Error ? err : new Error(String(err)));
    throw err;
  } finally {
    idle.dispose();
    reader.dispose();
  }
}
