import { OciError } from '../../workers/oci/index.js';
import { DEFAULT_TTL_SECONDS, MAX_TTL_SECONDS } from '../../workers/oci/service-records.js';
import type { EdgeRegistrar, SidecarRecord } from './registration.js';

/** A TTL that outlives three heartbeat intervals, so one or two lost heartbeats do not expire the record. */
export function recordTtlSeconds(heartbeatIntervalMs: number): number {
  return Math.min(MAX_TTL_SECONDS, Math.max(DEFAULT_TTL_SECONDS, Math.ceil((3 * heartbeatIntervalMs) / 1000)));
}

/**
 * Registers the sidecar in the edge's service records (`/services/<resource>/records/<peerId>`),
 * one resource per service tag, and heartbeats it. Needs FASTREG_TOKEN: records are writes.
 */
export class HttpEdgeRegistrar implements EdgeRegistrar {
  constructor(private readonly options: { edgeUrl: string; token: string; heartbeatIntervalMs: number; fetch?: typeof fetch }) {}

  private url(record: SidecarRecord, suffix = ''): URL {
    return new URL(`/services/${encodeURIComponent(record.service)}/records/${encodeURIComponent(record.peerId)}${suffix}`, this.options.edgeUrl);
  }

  private async call(url: URL, init: RequestInit, signal: AbortSignal): Promise<void> {
    const response = await (this.options.fetch ?? fetch)(url, {
      ...init,
      signal: AbortSignal.any([signal, AbortSignal.timeout(10_000)]),
      headers: { Authorization: `Bearer ${this.options.token}`, 'Content-Type': 'application/json' },
    });
    const text = await response.text();
    if (!response.ok) throw new OciError('UPSTREAM_FAILED', `edge answered ${response.status} to ${init.method} ${url.pathname}: ${text.slice(0, 200)}`);
  }

  register(record: SidecarRecord, signal: AbortSignal): Promise<void> {
    const body = {
      name: 'fastreg-sidecar',
      endpoint: record.httpUrl,
      peerId: record.peerId,
      multiaddrs: record.multiaddrs.filter((addr) => addr.length <= 512).slice(0, 32),
      tags: ['sidecar'],
      category: 'sidecar',
      ttlSeconds: recordTtlSeconds(this.options.heartbeatIntervalMs),
    };
    return this.call(this.url(record), { method: 'PUT', body: JSON.stringify(body) }, signal);
  }

  heartbeat(record: SidecarRecord, signal: AbortSignal): Promise<void> {
    return this.call(this.url(record, '/heartbeat'), { method: 'POST' }, signal);
  }

  deregister(record: SidecarRecord, signal: AbortSignal): Promise<void> {
    return this.call(this.url(record), { method: 'DELETE' }, signal);
  }
}
