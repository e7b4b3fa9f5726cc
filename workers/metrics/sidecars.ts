import type { ServiceRegistry } from '../../durable-objects/service-registry.js';
import type { EdgeConfig } from '../shared/edge-config.js';
import { parseAddress, SiteMap } from '../sites/addresses.js';
import { MAX_LIVE_SIDECARS } from '../sites/live-sidecars.js';
import type { SidecarOnline } from '../shared/metrics-wire/summary-types.js';

export type { SidecarOnline } from '../shared/metrics-wire/summary-types.js';

/**
 * The sidecars the site redirect would use (ServiceRegistry.liveSidecars of SIDECAR_RESOURCE), with
 * their sites as the redirect sees them. Read only when /stats or /metrics is asked, never per pull.
 */
export async function listSidecars(namespace: DurableObjectNamespace<ServiceRegistry>, config: EdgeConfig): Promise<SidecarOnline[]> {
  const sites = new SiteMap(config.SITES);
  const live = await namespace.getByName(config.SIDECAR_RESOURCE).liveSidecars(MAX_LIVE_SIDECARS);
  return live.map((sidecar) => {
    const address = parseAddress(sidecar.observedIp);
    return {
      id: sidecar.id,
      resource: config.SIDECAR_RESOURCE,
      endpoint: sidecar.endpoint,
      ...(address && { site: sites.siteOf(address) }),
      expiresAt: new Date(sidecar.expiresAt).toISOString(),
    };
  });
}
