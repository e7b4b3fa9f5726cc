import { EdgeClient } from './edge-client.js';
import { EdgeHttpError } from '../errors.js';
import { ServicesClient } from './services-client.js';
import { MAX_TTL_SECONDS } from '../../workers/shared/services/records.js';
import type { EdgeRegistrar, SidecarRecord } from './registration.js';

const REQUEST_TIMEOUT_MS = 10_000;

const MIN_RECORD_TTL_SECONDS = 3;

/**
 * Three heartbeat intervals: one or two lost heartbeats do not expire the record, and a sidecar that
 * died without deregistering stops receiving redirected clients within three intervals.
 */
export function recordTtlSeconds(heartbeatIntervalMs: number): number {
  return Math.min(MAX_TTL_SECONDS, Math.max(MIN_RECORD_TTL_SECONDS, Math.ceil((3 * heartbeatIntervalMs) / 1000)));
}

/**
 * Registers the sidecar in the edge's service records (`/services/<resource>/records/<peerId>`) and
 * heartbeats it, with the sidecar's own credential (it may write that one record only).
 */
export class HttpEdgeRegistrar implements EdgeRegistrar {
  private readonly services: ServicesClient;
  private readonly ttlSeconds: number;

  private readonly onUnauthorized: () => void;

  /** `onUnauthorized`: the edge answered 401 (an expired or revoked credential): renew it. */
  constructor(options: { edgeUrl: string; token: () => string | undefined; heartbeatIntervalMs: number; onUnauthorized?: () => void }) {
    this.onUnauthorized = options.onUnauthorized ?? (() => undefined);
    this.services = new ServicesClient(new EdgeClient({ baseUrl: options.edgeUrl, token: options.token, timeoutMs: REQUEST_TIMEOUT_MS, userAgent: 'fastreg-sidecar' }));
    this.ttlSeconds = recordTtlSeconds(options.heartbeatIntervalMs);
  }

  async register(record: SidecarRecord, signal: AbortSignal): Promise<void> {
    await this.watch(this.services.put(
      record.service,
      record.peerId,
      {
        name: 'fastreg-sidecar',
        endpoint: record.httpUrl,
        peerId: record.peerId,
        multiaddrs: record.multiaddrs.filter((addr) => addr.length <= 512).slice(0, 32),
        tags: ['sidecar'],
        category: 'sidecar',
        ttlSeconds: this.ttlSeconds,
      },
      signal,
    ));
  }

  async heartbeat(record: SidecarRecord, signal: AbortSignal): Promise<void> {
    await this.watch(this.services.heartbeat(record.service, record.peerId, signal));
  }

  async deregister(record: SidecarRecord, signal: AbortSignal): Promise<void> {
    await this.services.delete(record.service, record.peerId, signal);
  }

  private async watch<T>(request: Promise<T>): Promise<T> {
    try {
      return await request;
    } catch (err) {
      if (err instanceof EdgeHttpError && err.status === 401) this.onUnauthorized();
      throw err;
    }
  }
}
