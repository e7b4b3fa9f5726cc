// Bounded reading and writing on libp2p v3 streams. The built-in `for await` queues without
// limit and `onDrain()` resolves only once, so both directions are handled here explicitly.
import type { MessageStream, Stream } from '@libp2p/interface';
import type { Uint8ArrayList } from 'uint8arraylist';
import { StreamClosedError } from '../errors.js';

export const READ_HIGH_WATER = 1024 * 1024;

/** Waits for the stream's send buffer to drain when `send()` said it is full. */
export async function writeChunk(stream: MessageStream, data: Uint8Array, signal?: AbortSignal): Promise<void> {
  // An abort event never fires again for a signal that is already aborted.
  signal?.throwIfAborted();
  stream.send(data);
  if (!stream.writableNeedsDrain) return;
  await new Promise<void>((resolve, reject) => {
    const cleanup = () => {
      stream.removeEventListener('drain', onDrain);
      stream.removeEventListener('close', onClose);
      signal?.removeEventListener('abort', onAbort);
    };
    const onDrain = () => {
      cleanup();
      resolve();
    };
    const onClose = (event: Event) => {
      cleanup();
      reject((event as Event & { error?: Error }).error ?? new StreamClosedError('stream closed while waiting to drain'));
    };
    const onAbort = () => {
      cleanup();
      reject(signal?.reason ?? new Error('aborted'));
    };
    stream.addEventListener('drain', onDrain);
    stream.addEventListener('close', onClose);
    signal?.addEventListener('abort', onAbort);
    if (!stream.writableNeedsDrain) onDrain();
  });
}

/**
 * Pulls chunks off a stream with a bounded queue: above `highWater` bytes the stream is paused
 * (yamux then stops granting window, so the sender blocks), and resumed below half.
 */
export class StreamReader {
  private readonly queue: Uint8Array[] = [];
  private queued = 0;
  private ended = false;
  private error: Error | undefined;
  private wake: (() => void) | undefined;
  private pausing = false;

  constructor(
    private readonly stream: Stream,
    private readonly highWater = READ_HIGH_WATER,
  ) {
    stream.addEventListener('message', this.onMessage);
    stream.addEventListener('end', this.onEnd);
    stream.addEventListener('close', this.onClose);
    if (stream.readableEnded) this.ended = true;
  }

  private readonly onMessage = (event: Event) => {
    const data = (event as Event & { data: Uint8Array | Uint8ArrayList }).data;
    // A list's buffers are queued as they are: joining them (subarray) would copy every byte received.
    for (const chunk of data instanceof Uint8Array ? [data] : data) {
      this.queue.push(chunk);
      this.queued += chunk.byteLength;
    }
    if (this.queued > this.highWater && !this.pausing && this.stream.readStatus === 'readable') {
      this.pausing = true;
      queueMicrotask(() => {
        this.pausing = false;
        if (this.queued > this.highWater && this.stream.readStatus === 'readable') this.stream.pause();
      });
    }
    this.notify();
  };

  private readonly onEnd = () => {
    this.ended = true;
    this.notify();
  };

  private readonly onClose = (event: Event) => {
    const error = (event as Event & { error?: Error }).error;
    if (error) this.error = error;
    else if (this.stream.readBufferLength === 0 && this.stream.readStatus !== 'paused') this.ended = true;
    this.notify();
  };

  private notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  /** Next chunk, or undefined at a clean end of stream; throws if the stream was reset or aborted. */
  async read(signal?: AbortSignal): Promise<Uint8Array | undefined> {
    while (this.queue.length === 0) {
      if (this.error) throw this.error;
      if (this.ended) return undefined;
      signal?.throwIfAborted();
      await new Promise<void>((resolve) => {
        const onAbort = (): void => resolve();
        this.wake = () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        };
        signal?.addEventListener('abort', onAbort, { once: true });
      });
    }
    const chunk = this.queue.shift() as Uint8Array;
    this.queued -= chunk.byteLength;
    if (this.queued < this.highWater / 2 && this.stream.readStatus === 'paused') this.stream.resume();
    return chunk;
  }

  /** Puts back bytes read past a frame boundary. */
  unshift(chunk: Uint8Array): void {
    if (chunk.byteLength === 0) return;
    this.queue.unshift(chunk);
    this.queued += chunk.byteLength;
  }

  /** Reads exactly `length` bytes (for frame headers); throws if the stream ends first. */
  async readExactly(length: number, signal?: AbortSignal): Promise<Uint8Array> {
    const out = new Uint8Array(length);
    let filled = 0;
    while (filled < length) {
      const chunk = await this.read(signal);
      if (!chunk) throw new StreamClosedError(`stream ended after ${filled} of ${length} header bytes`);
      const take = Math.min(length - filled, chunk.byteLength);
      out.set(chunk.subarray(0, take), filled);
      filled += take;
      if (take < chunk.byteLength) this.unshift(chunk.subarray(take));
    }
    return out;
  }

  dispose(): void {
    this.stream.removeEventListener('message', this.onMessage);
    this.stream.removeEventListener('end', this.onEnd);
    this.stream.removeEventListener('close', this.onClose);
  }
}
