import type { EdgeMetricsSnapshot } from '../../durable-objects/edge-metrics.js';
import { getConfig } from '../shared/edge-config.js';
import { edgeFlusher, edgeMetricsStub, metricsSink } from './edge.js';
import { listSidecars, type SidecarOnline } from './sidecars.js';

export interface EdgeReading {
  snapshot: EdgeMetricsSnapshot;
  sidecars: SidecarOnline[];
}

/** Current figures: this isolate's deltas are flushed first, so a caller sees its own requests. */
export async function readEdgeMetrics(env: Env): Promise<EdgeReading> {
  await edgeFlusher.flushNow(metricsSink(env.EDGE_METRICS));
  const [snapshot, sidecars] = await Promise.all([edgeMetricsStub(env.EDGE_METRICS).snapshot(), listSidecars(env.SERVICE_REGISTRY, getConfig(env))]);
  return { snapshot, sidecars };
}
