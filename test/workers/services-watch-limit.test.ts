import { describe, expect, it } from 'vitest';
import { MAX_WATCHERS, SseHub } from '../../durable-objects/service-records/sse-hub.js';

// Reads may be public, so the number of open watches one registry object holds is capped.

describe('SseHub watcher cap', () => {
  it(`answers 429 TOOMANYREQUESTS with an OCI body once ${MAX_WATCHERS} watchers are open`, async () => {
    const hub = new SseHub();
    const open = Array.from({ length: MAX_WATCHERS }, () => hub.open());
    expect(open.every((res) => res.status === 200)).toBe(true);
    expect(hub.size).toBe(MAX_WATCHERS);

    const refused = hub.open();
    expect(refused.status).toBe(429);
    expect(refused.headers.get('Retry-After')).toBe('30');
    expect(((await refused.json()) as { errors: { code: string }[] }).errors[0]?.code).toBe('TOOMANYREQUESTS');
    expect(hub.size).toBe(MAX_WATCHERS);

    for (const res of open) await res.body?.cancel();
  });
});
