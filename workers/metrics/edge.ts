import type { EdgeMetrics } from '../../durable-objects/edge-metrics.js';
import { drainStatsInto, localMetrics } from './stats.js';
import { DeltaFlusher, type MetricsSink } from './flush.js';

/** The one EdgeMetrics instance every isolate flushes into. */
export const EDGE_METRICS_INSTANCE = 'global';

/** This isolate's flusher: deltas from `localMetrics` and the `stats` object. */
export const edgeFlusher = new DeltaFlusher(localMetrics, drainStatsInto);

export function edgeMetricsStub(namespace: DurableObjectNamespace<EdgeMetrics>): DurableObjectStub<EdgeMetrics> {
  return namespace.getByName(EDGE_METRICS_INSTANCE);
}

export function metricsSink(namespace: DurableObjectNamespace<EdgeMetrics>): MetricsSink {
  return { ingest: (batch) => edgeMetricsStub(namespace).ingest(batch) };
}
