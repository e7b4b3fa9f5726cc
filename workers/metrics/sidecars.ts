import { RESOURCE_INDEX_NAME, type ServiceRegistry } from '../../durable-objects/service-registry.js';
import type { SidecarOnline } from './summary-types.js';

export type { SidecarOnline } from './summary-types.js';

/** Bounds for the read side of the status page: resources looked at, sidecars listed. */
const MAX_RESOURCES = 50;
const MAX_SIDECARS_PER_RESOURCE = 200;

/**
 * Live sidecar records: every resource in the service index, records with category "sidecar" (how
 * sidecar/edge/http-registrar.ts registers). Read only when /stats or /metrics is asked, never per pull.
 */
export async function listSidecars(namespace: DurableObjectNamespace<ServiceRegistry>): Promise<SidecarOnline[]> {
  const resources = (await namespace.getByName(RESOURCE_INDEX_NAME).listResources(MAX_RESOURCES)).items;
  const perResource = await Promise.all(
    resources.map(async (resource) => {
      const hits = await namespace.getByName(resource.name).search({ category: 'sidecar', limit: MAX_SIDECARS_PER_RESOURCE });
      return hits.map(({ record }) => ({
        id: record.id,
        resource: record.resource,
        ...(record.endpoint !== undefined && { endpoint: record.endpoint }),
        ...(record.observedIp !== undefined && { site: record.observedIp }),
        expiresAt: record.expiresAt,
      }));
    }),
  );
  return perResource.flat();
}
