import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

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
    p2pBusy: new Counter({ name: 'fastreg_sidecar_p2p_busy_total', help: 'P2P blob requests answered busy (past --max-peer-streams), with pointers to peers receiving the blob', registers: [registry] }),
    p2pRedirects: new Counter({ name: 'fastreg_sidecar_p2p_redirects_total', help: 'Busy answers this sidecar followed to the peers they pointed at', registers: [registry] }),
    resumes: new Counter({ name: 'fastreg_sidecar_transfer_resumes_total', help: 'Transfers continued from another provider at an offset', registers: [registry] }),
    blobFetches: new Counter({ name: 'fastreg_sidecar_blob_fetches_total', help: 'Blobs obtained, by source', labelNames: ['source'], registers: [registry] }),
    requests: new Counter({ name: 'fastreg_sidecar_http_requests_total', help: 'HTTP bridge requests, by route, status and source of the blob (local, p2p, edge; none for other routes)', labelNames: ['route', 'status', 'source'], registers: [registry] }),
    requestDuration: new Histogram({
      name: 'fastreg_sidecar_http_request_duration_seconds',
      help: 'HTTP bridge time to response headers, by route',
      labelNames: ['route'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    }),
    servedBytes: new Counter({ name: 'fastreg_sidecar_served_bytes_total', help: 'Blob bytes sent to HTTP clients (response lengths), by source of the blob', labelNames: ['source'], registers: [registry] }),
    bind(sources: MetricSources) {
      new Gauge({ name: 'fastreg_sidecar_dht_peers', help: 'Connected libp2p peers (the DHT mesh)', registers: [registry], collect() { this.set(sources.peers()); } });
      new Gauge({ name: 'fastreg_sidecar_store_bytes', help: 'Bytes held in the blob store', registers: [registry], collect() { this.set(sources.store().bytes); } });
      new Gauge({ name: 'fastreg_sidecar_store_blobs', help: 'Blobs held in the blob store', registers: [registry], collect() { this.set(sources.store().count); } });
      new Gauge({ name: 'fastreg_sidecar_store_capacity_bytes', help: 'Configured store capacity', registers: [registry], collect() { this.set(sources.store().capacity); } });
      let evictionsSeen = 0;
      new Counter({
        name: 'fastreg_sidecar_store_evictions_total',
        help: 'Blobs evicted from the store since start (LRU)',
        registers: [registry],
        collect() {
          const evictions = sources.store().evictions;
          if (evictions > evictionsSeen) this.inc(evictions - evictionsSeen);
          evictionsSeen = evictions;
        },
      });
    },
  };
  return metrics;
}

export type SidecarMetrics = ReturnType<typeof createMetrics>;
