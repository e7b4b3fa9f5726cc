import type { DeltaBatch } from '../shared/metrics-wire/deltas.js';
import { isEmpty, type MetricRecorder } from './recorder.js';

/** Flush at most this often per isolate... */
export const FLUSH_INTERVAL_MS = 5_000;
/** ...unless this many distinct series are waiting. */
export const FLUSH_MAX_SERIES = 200;

export interface MetricsSink {
  ingest(batch: DeltaBatch): Promise<unknown>;
}

export interface FlusherOptions {
  intervalMs?: number;
  maxSeries?: number;
  now?: () => number;
}

/**
 * Moves an isolate's metric deltas to the shared sink in batches: a request only triggers a flush
 * when the interval has passed or the batch grew large, so the hot path makes no RPC of its own.
 * A failed delivery is put back and retried with the next flush.
 */
export class DeltaFlusher {
  private lastFlush = Number.NEGATIVE_INFINITY;
  private inflight: Promise<void> | undefined;
  /** Batches handed to the sink (for tests and the flush counter). */
  flushes = 0;

  constructor(
    private readonly recorder: MetricRecorder,
    /** Moves counts kept elsewhere (the `stats` object) into the recorder right before a flush. */
    private readonly drain: (recorder: MetricRecorder) => void,
    private readonly options: FlusherOptions = {},
  ) {}

  private now(): number {
    return (this.options.now ?? Date.now)();
  }

  due(): boolean {
    return this.now() - this.lastFlush >= (this.options.intervalMs ?? FLUSH_INTERVAL_MS) || this.recorder.size >= (this.options.maxSeries ?? FLUSH_MAX_SERIES);
  }

  /** Starts a flush if one is due and none is running; hand the promise to waitUntil. */
  maybeFlush(sink: MetricsSink): Promise<void> | undefined {
    if (this.inflight || !this.due()) return undefined;
    return this.flush(sink);
  }

  /** Flushes now (a reader wants current figures); waits for a running flush first, bounded. */
  async flushNow(sink: MetricsSink, waitMs = 2_000): Promise<void> {
    if (this.inflight) await Promise.race([this.inflight, new Promise((resolve) => setTimeout(resolve, waitMs))]);
    await this.flush(sink);
  }

  private flush(sink: MetricsSink): Promise<void> {
    this.lastFlush = this.now();
    this.drain(this.recorder);
    const batch = this.recorder.take();
    if (isEmpty(batch)) return Promise.resolve();
    this.flushes += 1;
    this.recorder.add('fastreg_edge_metrics_flushes_total', {}, 1);
    const delivery = sink.ingest(batch).then(
      () => undefined,
      (err: unknown) => {
        console.warn(`metrics flush failed, will retry: ${err instanceof Error ? err.message : String(err)}`);
        this.recorder.restore(batch);
      },
    );
    const tracked = delivery.finally(() => {
      if (this.inflight === tracked) this.inflight = undefined;
    });
    this.inflight = tracked;
    return tracked;
  }
}
