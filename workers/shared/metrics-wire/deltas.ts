import type { EdgeMetricName } from './catalog.js';
import type { Labels } from './prometheus.js';

// Metric deltas as a worker isolate sends them to the EdgeMetrics Durable Object, and as its
// snapshot gives them back. Plain data, so a batch crosses the RPC boundary as-is.

export interface CounterDelta {
  name: EdgeMetricName;
  labels: Labels;
  value: number;
}

export interface HistogramDelta {
  name: EdgeMetricName;
  labels: Labels;
  /** Per-bucket counts for DURATION_BOUNDS plus +Inf (not cumulative). */
  counts: number[];
  sum: number;
}

export interface GaugeReading {
  name: EdgeMetricName;
  labels: Labels;
  value: number;
  /** When it was read, ms since epoch: the newest reading across isolates wins. */
  at: number;
}

export interface DeltaBatch {
  counters: CounterDelta[];
  histograms: HistogramDelta[];
  gauges: GaugeReading[];
}
