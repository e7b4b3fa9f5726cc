import { OciError, ociErrorResponse } from '../../workers/shared/oci/index.js';

// A set of Server-Sent-Events writers held by one Durable Object. A writer that fails, or falls too far
// behind, is dropped, so a dead or slow watcher never holds memory for long.

const KEEPALIVE_MS = 15_000;
/** Bytes a watcher may have queued before it is cut off. */
const MAX_QUEUED_BYTES = 1024 * 1024;
/** Watchers one object holds at most, so open watches cannot exhaust its memory (reads may be public). */
export const MAX_WATCHERS = 256;

const encoder = new TextEncoder();

export class SseHub {
  private readonly writers = new Set<WritableStreamDefaultWriter<Uint8Array>>();
  private keepalive: ReturnType<typeof setInterval> | undefined;
  private sequence = 0;

  get size(): number {
    return this.writers.size;
  }

  /** A new SSE response whose stream receives every later `send`. */
  open(): Response {
    if (this.writers.size >= MAX_WATCHERS) {
      return ociErrorResponse(new OciError('TOOMANYREQUESTS', `this resource already has ${MAX_WATCHERS} watchers; retry later`, { headers: { 'Retry-After': '30' } }));
    }
    const { readable, writable } = new TransformStream<Uint8Array, Uint8Array>(undefined, new ByteLengthQueuingStrategy({ highWaterMark: MAX_QUEUED_BYTES }));
    const writer = writable.getWriter();
    this.writers.add(writer);
    // Tells the client the subscription is live, so it can safely start writing.
    this.write(writer, encoder.encode(`retry: 2000\nevent: ready\ndata: {}\n\n`));
    this.keepalive ??= setInterval(() => this.broadcast(encoder.encode(': keepalive\n\n')), KEEPALIVE_MS);
    return new Response(readable, {
      headers: { 'Content-Type': 'text/event-stream; charset=utf-8', 'Cache-Control': 'no-cache', 'X-Accel-Buffering': 'no' },
    });
  }

  send(event: string, data: unknown): void {
    if (this.writers.size === 0) return;
    this.sequence++;
    this.broadcast(encoder.encode(`id: ${this.sequence}\nevent: ${event}\ndata: ${JSON.stringify(data)}\n\n`));
  }

  private broadcast(bytes: Uint8Array): void {
    for (const writer of this.writers) this.write(writer, bytes);
  }

  private write(writer: WritableStreamDefaultWriter<Uint8Array>, bytes: Uint8Array): void {
    if (writer.desiredSize !== null && writer.desiredSize < 0) {
      this.drop(writer);
      return;
    }
    writer.write(bytes).catch(() => this.drop(writer));
  }

  private drop(writer: WritableStreamDefaultWriter<Uint8Array>): void {
    if (!this.writers.delete(writer)) return;
    writer.abort().catch(() => {});
    if (this.writers.size === 0 && this.keepalive !== undefined) {
      clearInterval(this.keepalive);
      this.keepalive = undefined;
    }
  }
}
