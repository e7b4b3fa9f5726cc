import { createExecutionContext, env, waitOnExecutionContext } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { createApp } from '../../workers/app.js';
import type { ClientInfo } from '../../workers/shared/oci/client-info.js';

// GET /client-info: what the edge sees of the asking host, as `fastreg doctor` reads it.

const ADMIN = 'test-token-0123456789abcdef';
const app = createApp();
let counter = 0;

async function call(path: string, options: { method?: string; ip?: string; headers?: Record<string, string>; body?: unknown; vars?: Record<string, string> } = {}): Promise<Response> {
  const headers = new Headers(options.headers);
  if (options.ip) headers.set('CF-Connecting-IP', options.ip);
  if (options.body !== undefined) headers.set('Content-Type', 'application/json');
  const request = new Request(`http://edge${path}`, { method: options.method ?? 'GET', headers, ...(options.body !== undefined && { body: JSON.stringify(options.body) }) });
  const ctx = createExecutionContext();
  const response = await app.fetch(request, { ...env, SIDECAR_TABLE_TTL_MS: '0', ...options.vars } as Env, ctx);
  await waitOnExecutionContext(ctx);
  return response;
}

async function registerSidecar(resource: string, id: string, ip: string, endpoint: string): Promise<void> {
  const res = await call(`/services/${resource}/records/${id}`, {
    method: 'PUT',
    ip,
    headers: { Authorization: `Bearer ${ADMIN}` },
    body: { name: 'fastreg-sidecar', endpoint, category: 'sidecar', ttlSeconds: 60 },
  });
  expect(res.status, await res.clone().text()).toBeLessThan(300);
}

describe('GET /client-info', () => {
  it("names the client's address, site, live and reachable sidecars, and the UPSTREAMS names", async () => {
    const resource = `ci-${(counter++).toString(36)}-${Date.now().toString(36)}`;
    const vars = { SIDECAR_RESOURCE: resource, SITES: JSON.stringify({ office: ['10.1.0.0/16'] }) };
    await registerSidecar(resource, 'lan-sidecar', '10.1.2.3', 'http://10.1.2.3:5050');
    await registerSidecar(resource, 'loopback-sidecar', '10.1.2.4', 'http://127.0.0.1:5050');

    const res = await call('/client-info', { ip: '10.1.9.9', vars });
    expect(res.status).toBe(200);
    const info = (await res.json()) as ClientInfo;
    expect(info).toEqual({
      version: 1,
      clientIp: '10.1.9.9',
      site: 'office',
      liveSidecars: 2,
      reachableSidecars: 1,
      redirectPolicy: 'rendezvous',
      upstreams: ['docker.io', 'ghcr.io'],
      defaultRegistry: 'docker.io',
    });

    const elsewhere = (await (await call('/client-info', { ip: '192.0.2.7', vars })).json()) as ClientInfo;
    expect(elsewhere).toMatchObject({ site: 'ip:192.0.2.7', liveSidecars: 0, reachableSidecars: 0 });
  });

  it('follows PULL_ACCESS', async () => {
    expect((await call('/client-info', { ip: '10.0.0.1', vars: { PULL_ACCESS: 'token' } })).status).toBe(401);
    const res = await call('/client-info', { ip: '10.0.0.1', vars: { PULL_ACCESS: 'token' }, headers: { Authorization: `Bearer ${ADMIN}` } });
    expect(res.status).toBe(200);
  });
});
