import type { Labels } from '../shared/metrics-wire/prometheus.js';
import type { CounterDelta, DeltaBatch, GaugeReading, HistogramDelta } from '../shared/metrics-wire/deltas.js';
import { DURATION_BOUNDS, type EdgeMetricName } from '../shared/metrics-wire/catalog.js';

// Isolate-local metric deltas, drained into the EdgeMetrics Durable Object in batches (flush.ts).

export function seriesKey(name: string, labels: Labels): string {
  return `${name}${JSON.stringify(Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : 1)))}`;
}

export class MetricRecorder {
  private counters = new Map<string, CounterDelta>();
  private histograms = new Map<string, HistogramDelta>();
  private gauges = new Map<string, GaugeReading>();

  add(name: EdgeMetricName, labels: Labels, value = 1): void {
    if (value === 0) return;
    const key = seriesKey(name, labels);
    const entry = this.counters.get(key);
    if (entry) entry.value += value;
    else this.counters.set(key, { name, labels, value });
  }

  observe(name: EdgeMetricName, labels: Labels, seconds: number): void {
    const key = seriesKey(name, labels);
    let entry = this.histograms.get(key);
    if (!entry) {
      entry = { name, labels, counts: new Array<number>(DURATION_BOUNDS.length + 1).fill(0), sum: 0 };
      this.histograms.set(key, entry);
    }
    const index = DURATION_BOUNDS.findIndex((bound) => seconds <= bound);
    entry.counts[index === -1 ? DURATION_BOUNDS.length : index]! += 1;
    entry.sum += seconds;
  }

  setGauge(name: EdgeMetricName, labels: Labels, value: number, at = Date.now()): void {
    this.gauges.set(seriesKey(name, labels), { name, labels, value, at });
  }

  /** Distinct series waiting to be flushed (the size threshold of a flush). */
  get size(): number {
    return this.counters.size + this.histograms.size + this.gauges.size;
  }

  /** Hands over everything recorded so far and starts empty. */
  take(): DeltaBatch {
    const batch = { counters: [...this.counters.values()], histograms: [...this.histograms.values()], gauges: [...this.gauges.values()] };
    this.counters = new Map();
    this.histograms = new Map();
    this.gauges = new Map();
    return batch;
  }

  /** Puts a batch that could not be delivered back, so its counts are not lost. */
  restore(batch: DeltaBatch): void {
    for (const c of batch.counters) this.add(c.name, c.labels, c.value);
    for (const h of batch.histograms) {
      const key = seriesKey(h.name, h.labels);
      const entry = this.histograms.get(key);
      if (!entry) this.histograms.set(key, { ...h, counts: [...h.counts] });
      else {
        h.counts.forEach((n, i) => (entry.counts[i]! += n));
        entry.sum += h.sum;
      }
    }
    for (const g of batch.gauges) {
      const key = seriesKey(g.name, g.labels);
      const current = this.gauges.get(key);
      if (!current || current.at < g.at) this.gauges.set(key, g);
    }
  }
}

export function isEmpty(batch: DeltaBatch): boolean {
  return batch.counters.length === 0 && batch.histograms.length === 0 && batch.gauges.length === 0;
}
