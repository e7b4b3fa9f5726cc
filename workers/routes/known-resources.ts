import type { ServiceRegistry } from '../../durable-objects/service-registry.js';
import { RESOURCE_INDEX_NAME } from '../../durable-objects/service-registry.js';

// Reads of a resource ask the index first, so that reading a name nobody created (say, anonymous
// probes of random names) never reaches, and never creates, an object of its own. Resources are
// never deleted, so a name found once is remembered for the isolate's life (up to a bound); a miss
// is asked again every time, since the resource may be created from any isolate.

const MAX_REMEMBERED = 10_000;
const remembered = new Set<string>();

export function resourceIndex(namespace: DurableObjectNamespace<ServiceRegistry>): DurableObjectStub<ServiceRegistry> {
  return namespace.getByName(RESOURCE_INDEX_NAME);
}

/** Whether the index lists `resource`. */
export async function isKnownResource(namespace: DurableObjectNamespace<ServiceRegistry>, resource: string): Promise<boolean> {
  if (remembered.has(resource)) return true;
  if (!(await resourceIndex(namespace).isListed(resource))) return false;
  rememberResource(resource);
  return true;
}

/** Called once the index lists `resource`. */
export function rememberResource(resource: string): void {
  if (remembered.size >= MAX_REMEMBERED) remembered.clear();
  remembered.add(resource);
}
