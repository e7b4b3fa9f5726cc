import type { EdgeMetricsSnapshot } from '../../durable-objects/edge-metrics.js';
import { DURATION_BOUNDS, EDGE_METRICS, type EdgeMetricName } from '../shared/metrics-wire/catalog.js';
import { formatPrometheus, type HistogramSample, type MetricFamily, type Sample } from '../shared/metrics-wire/prometheus.js';

/** The edge's /metrics body: every catalog metric with data, in catalog order. */
export function edgeExposition(snapshot: EdgeMetricsSnapshot, sidecarsOnline: number): string {
  const plain = new Map<string, Sample[]>();
  const push = (name: string, sample: Sample) => plain.set(name, [...(plain.get(name) ?? []), sample]);
  for (const c of snapshot.counters) push(c.name, { labels: c.labels, value: c.value });
  for (const g of snapshot.gauges) push(g.name, { labels: g.labels, value: g.value });
  push('fastreg_sidecars_online', { labels: {}, value: sidecarsOnline });
  const histograms = new Map<string, HistogramSample[]>();
  for (const h of snapshot.histograms) {
    histograms.set(h.name, [...(histograms.get(h.name) ?? []), { labels: h.labels, bounds: DURATION_BOUNDS, counts: h.counts, sum: h.sum }]);
  }
  const families: MetricFamily[] = [];
  for (const [name, def] of Object.entries(EDGE_METRICS) as [EdgeMetricName, (typeof EDGE_METRICS)[EdgeMetricName]][]) {
    if (def.type === 'histogram') {
      const samples = histograms.get(name);
      if (samples?.length) families.push({ name, help: def.help, type: 'histogram', samples });
    } else {
      const samples = plain.get(name);
      if (name === 'fastreg_leases_active' && samples) samples.forEach((s) => (s.value = Math.max(0, s.value)));
      if (samples?.length) families.push({ name, help: def.help, type: def.type, samples });
    }
  }
  return formatPrometheus(families);
}
