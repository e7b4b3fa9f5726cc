import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import type { ServiceRegistry } from '../../durable-objects/service-registry.js';
import { parseConfig } from '../../workers/shared/edge-config.js';
import { parseAddress } from '../../workers/sites/addresses.js';
import { REFRESH_DEADLINE_MS, sidecarsForClient } from '../../workers/sites/live-sidecars.js';

// The site table is looked up on the blob path: a registry object that never answers must not stall pulls.

describe('site table refresh deadline', () => {
  it('a registry that never answers costs one bounded wait, then the edge serves without redirecting', async () => {
    let calls = 0;
    const hung = {
      getByName: () => ({
        liveSidecars: () => {
          calls++;
          return new Promise(() => undefined);
        },
      }),
    } as unknown as DurableObjectNamespace<ServiceRegistry>;
    const config = parseConfig({ ...env, SIDECAR_TABLE_TTL_MS: '60000' });
    const client = parseAddress('10.20.0.5')!;

    const started = Date.now();
    expect(await sidecarsForClient(config, hung, client)).toEqual([]);
    const waited = Date.now() - started;
    expect(waited).toBeGreaterThanOrEqual(REFRESH_DEADLINE_MS - 50);
    expect(waited).toBeLessThan(REFRESH_DEADLINE_MS + 1_500);

    // Within the TTL the last (empty) table serves at once, without asking the registry again.
    const again = Date.now();
    expect(await sidecarsForClient(config, hung, client)).toEqual([]);
    expect(Date.now() - again).toBeLessThan(200);
    expect(calls).toBe(1);
  });
});
