import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';

export interface MetricSources {
  peers(): number;
  store(): { bytes: number; count: number; capacity: number; evictions: number };
}

/** The sidecar's Prometheus metrics, in a registry of its own. */
export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'fastreg_sidecar_' });
  const metrics = {
    registry,
    p2pBytesIn: new Counter({ name: 'fastreg_sidecar_p2p_bytes_in_total', help: 'Blob bytes received from peers', registers: [registry] }),
    p2pBytesOut: new Counter({ name: 'fastreg_sidecar_p2p_bytes_out_total', help: 'Blob bytes served to peers', registers: [registry] }),
    digestFailures: new Counter({ name: 'fastreg_sidecar_digest_failures_total', help: 'Blobs from peers that failed digest or size verification', registers: [registry] }),
    resumes: new Counter({ name: 'fastreg_sidecar_transfer_resumes_total', help: 'Transfers continued from another provider at an offset', registers: [registry] }),
    blobFetches: new Counter({ name: 'fastreg_sidecar_blob_fetches_total', help: 'Blobs obtained, by source', labelNames: ['source'], registers: [registry] }),
    requests: new Counter({ name: 'fastreg_sidecar_http_requests_total', help: 'HTTP bridge requests', labelNames: ['route', 'status', 'source'], registers: [registry] }),
    bind(sources: MetricSources) {
      new Gauge({ name: 'fastreg_sidecar_peers', help: 'Connected peers', registers: [registry], collect() { this.set(sources.peers()); } });
      new Gauge({ name: 'fastreg_sidecar_store_bytes', help: 'Bytes held in the blob store', registers: [registry], collect() { this.set(sources.store().bytes); } });
      new Gauge({ name: 'fastreg_sidecar_store_blobs', help: 'Blobs held in the blob store', registers: [registry], collect() { this.set(sources.store().count); } });
      new Gauge({ name: 'fastreg_sidecar_store_capacity_bytes', help: 'Configured store capacity', registers: [registry], collect() { this.set(sources.store().capacity); } });
      new Gauge({ name: 'fastreg_sidecar_store_evictions', help: 'Blobs evicted since start (LRU)', registers: [registry], collect() { this.set(sources.store().evictions); } });
    },
  };
  return metrics;
}

export type SidecarMetrics = ReturnType<typeof createMetrics>;
