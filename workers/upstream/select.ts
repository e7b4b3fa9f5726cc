import type { EdgeConfig } from '../shared/edge-config.js';
import { DOCKER_HUB_REGISTRIES, OciError, parseRegistryNs, withDockerHubLibrary } from '../shared/oci/index.js';
import { UpstreamClient, type Fetcher } from './client.js';


export interface SelectedUpstream {
  registry: string;
  client: UpstreamClient;
  /** The repository name as the upstream knows it (`library/` added for Docker Hub). */
  repository: string;
}

/** Picks the upstream from `?ns=` (containerd's hosts.toml) or DEFAULT_REGISTRY. Unknown ns → NAME_UNKNOWN. */
export function selectUpstream(config: EdgeConfig, ns: string | undefined, name: string, fetcher?: Fetcher): SelectedUpstream {
  const registry = ns === undefined || ns === '' ? config.DEFAULT_REGISTRY : parseRegistryNs(ns);
  const baseUrl = config.upstreams.get(registry);
  if (!baseUrl) {
    throw new OciError('NAME_UNKNOWN', `registry "${registry}" is not configured as an upstream of this mirror`, {
      detail: { configured: [...config.upstreams.keys()] },
    });
  }
  const client = new UpstreamClient({
    registry,
    baseUrl,
    credentials: config.UPSTREAM_CREDENTIALS?.[registry],
    timeoutMs: config.UPSTREAM_TIMEOUT_MS,
    fetcher,
  });
  return { registry, client, repository: DOCKER_HUB_REGISTRIES.has(registry) ? withDockerHubLibrary(name) : name };
}

export function pullScope(repository: string): string {
  return `repository:${repository}:pull`;
}
