import type { EdgeClient } from './edge-client.js';

import type { RecordInput, ServiceEvent, ServiceInfo, ServiceRecord } from '../../workers/shared/services/records.js';

// Typed calls to the edge's /services API (service records). The sidecar uses it to register itself and
// heartbeat; the CLI uses it for `fastreg services …`. The wire types are the edge's own schema.

export type { ServiceEvent, ServiceInfo, ServiceRecord };
export type ServiceRecordInput = RecordInput;

export interface SearchQuery {
  q?: string;
  tags?: string[];
  category?: string;
  limit?: number;
}

const seg = encodeURIComponent;

export class ServicesClient {
  constructor(private readonly edge: EdgeClient) {}

  put(resource: string, id: string, record: ServiceRecordInput, signal?: AbortSignal): Promise<ServiceRecord> {
    return this.edge.json('PUT', `/services/${seg(resource)}/records/${seg(id)}`, { body: record, ...(signal && { signal }) });
  }

  get(resource: string, id: string, signal?: AbortSignal): Promise<ServiceRecord> {
    return this.edge.json('GET', `/services/${seg(resource)}/records/${seg(id)}`, { ...(signal && { signal }) });
  }

  list(resource: string, page: { limit?: number; cursor?: string } = {}): Promise<{ records: ServiceRecord[]; nextCursor?: string }> {
    return this.edge.json('GET', `/services/${seg(resource)}/records`, { query: { limit: page.limit, cursor: page.cursor } });
  }

  async delete(resource: string, id: string, signal?: AbortSignal): Promise<ServiceRecord> {
    const { deleted } = await this.edge.json<{ deleted: ServiceRecord }>('DELETE', `/services/${seg(resource)}/records/${seg(id)}`, { ...(signal && { signal }) });
    return deleted;
  }

  heartbeat(resource: string, id: string, signal?: AbortSignal): Promise<ServiceRecord> {
    return this.edge.json('POST', `/services/${seg(resource)}/records/${seg(id)}/heartbeat`, { ...(signal && { signal }) });
  }

  search(resource: string, query: SearchQuery): Promise<{ hits: { score: number; record: ServiceRecord }[] }> {
    return this.edge.json('GET', `/services/${seg(resource)}/search`, {
      query: { q: query.q, tags: query.tags?.join(','), category: query.category, limit: query.limit },
    });
  }

  /** Yields `ready` once the subscription is live, then every change, until the signal aborts. */
  async *watch(resource: string, signal?: AbortSignal): AsyncGenerator<{ type: 'ready' } | ServiceEvent> {
    for await (const message of this.edge.events(`/services/${seg(resource)}/watch`, { ...(signal && { signal }) })) {
      if (message.event === 'ready') yield { type: 'ready' };
      else yield JSON.parse(message.data) as ServiceEvent;
    }
  }
}
