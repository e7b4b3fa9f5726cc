import { withLocalDeadline } from '../../durable-objects/blob-lease-client.js';
import type { ServiceRegistry } from '../../durable-objects/service-registry.js';
import type { EdgeConfig } from '../shared/edge-config.js';
import { isHostLocalEndpoint, parseAddress, SiteMap, type Address } from './addresses.js';
import type { LiveSidecar } from './policy.js';

// The site -> live sidecars table, kept per isolate for SIDECAR_TABLE_TTL_MS so a blob request costs
// no Durable Object round trip; one refresh at a time, from ServiceRegistry.liveSidecars().

/** Most sidecar records one refresh reads. */
export const MAX_LIVE_SIDECARS = 1000;
/** A blob request waits at most this long for a refresh; after that the last table serves. */
export const REFRESH_DEADLINE_MS = 1000;

interface Table {
  sites: SiteMap;
  bySite: Map<string, LiveSidecar[]>;
  fetchedAt: number;
  refreshing?: Promise<void>;
}

// Keyed by the parsed config, which lives as long as its env: bounded by the isolate's envs.
const tables = new WeakMap<EdgeConfig, Table>();

function tableFor(config: EdgeConfig): Table {
  let table = tables.get(config);
  if (!table) {
    table = { sites: new SiteMap(config.SITES), bySite: new Map(), fetchedAt: -Infinity };
    tables.set(config, table);
  }
  return table;
}

/** The site an address belongs to (a configured CIDR site, else `ip:<address>`). */
export function siteOfClient(config: EdgeConfig, client: Address): string {
  return tableFor(config).sites.siteOf(client);
}

/** The live sidecars of the client's site (fresh heartbeat, http(s) endpoint); empty when there are none. */
export async function sidecarsForClient(config: EdgeConfig, namespace: DurableObjectNamespace<ServiceRegistry>, client: Address): Promise<LiveSidecar[]> {
  const table = tableFor(config);
  if (Date.now() - table.fetchedAt >= config.SIDECAR_TABLE_TTL_MS) {
    const current = table;
    current.refreshing ??= withLocalDeadline(refresh(current, namespace, config.SIDECAR_RESOURCE), REFRESH_DEADLINE_MS)
      .catch((err: unknown) => {
        // A slow or reset registry must not stall blob pulls: keep the last table until the next TTL.
        console.warn(`fastreg: sidecar table refresh gave up, keeping the last one: ${(err as Error).message}`);
        current.fetchedAt = Date.now();
      })
      .finally(() => (current.refreshing = undefined));
    await current.refreshing;
  }
  const now = Date.now();
  return (table.bySite.get(table.sites.siteOf(client)) ?? []).filter((sidecar) => sidecar.expiresAt > now);
}

async function refresh(table: Table, namespace: DurableObjectNamespace<ServiceRegistry>, resource: string): Promise<void> {
  try {
    const records = await namespace.getByName(resource).liveSidecars(MAX_LIVE_SIDECARS);
    const bySite = new Map<string, LiveSidecar[]>();
    for (const record of records) {
      const address = parseAddress(record.observedIp);
      if (!address || !URL.canParse(record.endpoint) || !/^https?:\/\//.test(record.endpoint)) continue;
      const site = table.sites.siteOf(address);
      const list = bySite.get(site) ?? [];
      list.push({ ...record, endpoint: record.endpoint.replace(/\/+$/, ''), hostLocal: isHostLocalEndpoint(record.endpoint) });
      bySite.set(site, list);
    }
    table.bySite = bySite;
  } catch (err) {
    // The edge can always serve the blob itself: keep the last table (its entries still expire).
    console.warn(`fastreg: sidecar table refresh failed, keeping the last one: ${(err as Error).message}`);
  }
  table.fetchedAt = Date.now();
}
