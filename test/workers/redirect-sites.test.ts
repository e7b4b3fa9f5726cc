import { createExecutionContext, env, runDurableObjectAlarm, runInDurableObject, SELF, waitOnExecutionContext } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { createApp } from '../../workers/app.js';
import { parseConfig } from '../../workers/shared/edge-config.js';
import { callEdge as call } from './edge-call.js';
import { freshResource } from './services-fixtures.js';
import { addBlob, sha256, uniqueName, upstreamLog } from './registry-helpers.js';

// LAN-first delivery (README): a blob GET from a client whose site has live sidecars gets a 307 to
// one of them; everything else is served by the edge. Sidecars are registered through the real
// /services API with CF-Connecting-IP, which is what the Worker sees as the client address here.

const ADMIN = 'test-token-0123456789abcdef';
const app = createApp();

type Vars = Record<string, string>;

async function register(resource: string, id: string, ip: string, endpoint: string, ttlSeconds = 60): Promise<void> {
  const res = await call(`/services/${resource}/records/${id}`, {
    method: 'PUT',
    ip,
    headers: { Authorization: `Bearer ${ADMIN}` },
    body: { name: 'fastreg-sidecar', endpoint, tags: ['sidecar'], category: 'sidecar', ttlSeconds },
  });
  expect(res.status, await res.clone().text()).toBeLessThan(300);
  await res.body?.cancel();
}

async function blobGet(name: string, digest: string, ip: string | undefined, vars: Vars, extra: { method?: string; headers?: Record<string, string>; query?: string } = {}): Promise<Response> {
  return call(`/v2/${name}/blobs/${digest}${extra.query ?? ''}`, { method: extra.method, ip, headers: extra.headers, vars });
}

async function expectServedByEdge(response: Response, text: string): Promise<void> {
  expect(response.status).toBe(200);
  expect(response.headers.get('Location')).toBeNull();
  expect(new TextDecoder().decode(await response.arrayBuffer())).toBe(text);
}

function fakeDigest(i: number): string {
  return `sha256:${i.toString(16).padStart(64, 'a')}`;
}

describe('site redirect', () => {
  it('sends a client of a site with a live sidecar to it (307, Location keeps ?ns=), and serves other clients itself', async () => {
    const resource = freshResource('sc');
    const vars = { SIDECAR_RESOURCE: resource };
    await register(resource, 'peerA1234567890abcdef', '10.0.0.7', 'http://192.168.1.10:5050/');
    const text = `site redirect ${crypto.randomUUID()}`;
    const { digest } = await addBlob({ text });
    const name = uniqueName('redir');

    const redirected = await blobGet(name, digest, '10.0.0.7', vars, { query: '?ns=docker.io' });
    expect(redirected.status).toBe(307);
    expect(redirected.headers.get('Location')).toBe(`http://192.168.1.10:5050/v2/${name}/blobs/${digest}?ns=docker.io`);
    expect(redirected.headers.get('X-FastReg-Source')).toBe('peer');
    // The redirect cost the upstream nothing.
    expect(await upstreamLog(digest)).toHaveLength(0);

    await expectServedByEdge(await blobGet(name, digest, '10.0.0.8', vars), text);
    await expectServedByEdge(await blobGet(name, digest, undefined, vars), text);
    // An IPv4-mapped IPv6 client address is the same client.
    expect((await blobGet(name, digest, '::ffff:10.0.0.7', vars)).status).toBe(307);
  });

  it('never redirects a request that carries X-FastReg-Peer (loop guard), nor a HEAD', async () => {
    const resource = freshResource('sc');
    const vars = { SIDECAR_RESOURCE: resource };
    await register(resource, 'peerB1234567890abcdef', '10.0.1.7', 'http://10.0.1.7:5050');
    const text = `peer guard ${crypto.randomUUID()}`;
    const { digest, size } = await addBlob({ text });
    const name = uniqueName('guard');

    await expectServedByEdge(await blobGet(name, digest, '10.0.1.7', vars, { headers: { 'X-FastReg-Peer': 'peerB1234567890abcdef' } }), text);
    const head = await blobGet(name, digest, '10.0.1.7', vars, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('Content-Length')).toBe(String(size));
    expect(head.headers.get('Location')).toBeNull();
    expect((await blobGet(name, digest, '10.0.1.7', vars)).status).toBe(307);
  });

  it('serves the blob itself once the sidecar expired (TTL, then the alarm collects it)', async () => {
    const resource = freshResource('sc');
    const vars = { SIDECAR_RESOURCE: resource };
    const id = 'peerC1234567890abcdef';
    await register(resource, id, '10.0.2.7', 'http://10.0.2.7:5050');
    const text = `expired ${crypto.randomUUID()}`;
    const { digest } = await addBlob({ text });
    const name = uniqueName('expired');
    expect((await blobGet(name, digest, '10.0.2.7', vars)).status).toBe(307);

    const stub = env.SERVICE_REGISTRY.getByName(resource);
    await runInDurableObject(stub, (_instance, state) => {
      state.storage.sql.exec('UPDATE records SET expires_at = ? WHERE id = ?', Date.now() - 1, id);
    });
    await expectServedByEdge(await blobGet(name, digest, '10.0.2.7', vars), text);
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    await expectServedByEdge(await blobGet(name, digest, '10.0.2.7', vars), text);
  });

  it('a sidecar registered with a short TTL and no heartbeat stops getting clients when it lapses', async () => {
    const resource = freshResource('sc');
    const vars = { SIDECAR_RESOURCE: resource };
    await register(resource, 'peerD1234567890abcdef', '10.0.3.7', 'http://10.0.3.7:5050', 1);
    const text = `lapsed ${crypto.randomUUID()}`;
    const { digest } = await addBlob({ text });
    const name = uniqueName('lapsed');
    expect((await blobGet(name, digest, '10.0.3.7', vars)).status).toBe(307);
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    await expectServedByEdge(await blobGet(name, digest, '10.0.3.7', vars), text);
  });

  it("a heartbeat from a new address moves the sidecar to that address's site", async () => {
    const resource = freshResource('sc');
    const vars = { SIDECAR_RESOURCE: resource };
    await register(resource, 'peerM1234567890abcdef', '10.0.12.7', 'http://10.0.12.7:5050');
    const text = `moved ${crypto.randomUUID()}`;
    const { digest } = await addBlob({ text });
    const name = uniqueName('moved');
    expect((await blobGet(name, digest, '10.0.12.7', vars)).status).toBe(307);
    await expectServedByEdge(await blobGet(name, digest, '10.0.13.7', vars), text);

    const beat = await call(`/services/${resource}/records/peerM1234567890abcdef/heartbeat`, { method: 'POST', ip: '10.0.13.7', headers: { Authorization: `Bearer ${ADMIN}` } });
    expect(beat.status).toBe(200);
    expect(((await beat.json()) as { observedIp?: string }).observedIp).toBe('10.0.13.7');
    expect((await blobGet(name, digest, '10.0.13.7', vars)).status).toBe(307);
    await expectServedByEdge(await blobGet(name, digest, '10.0.12.7', vars), text);
  });

  it('never hands a sidecar on its default loopback bridge to a client on another host', async () => {
    const resource = freshResource('sc');
    const vars = { SIDECAR_RESOURCE: resource };
    await register(resource, 'peerH1234567890abcdef', '10.0.10.7', 'http://127.0.0.1:5050');
    await register(resource, 'peerI1234567890abcdef', '10.0.10.7', 'http://localhost:5050');
    const text = `loopback ${crypto.randomUUID()}`;
    const { digest } = await addBlob({ text });
    await expectServedByEdge(await blobGet(uniqueName('lo'), digest, '10.0.10.7', vars), text);
    // A client on loopback (same machine as the sidecar, as in local tests) may use it.
    await register(resource, 'peerJ1234567890abcdef', '127.0.0.5', 'http://127.0.0.5:5050');
    const res = await blobGet('library/lo', digest, '127.0.0.5', vars);
    expect(res.status).toBe(307);
    expect(res.headers.get('Location')).toBe(`http://127.0.0.5:5050/v2/library/lo/blobs/${digest}`);
  });

  it('redirects a blob of any configured registry (?ns=) with ns in the Location; an unknown or malformed ns is a 4xx, not a redirect', async () => {
    const resource = freshResource('sc');
    const vars = { SIDECAR_RESOURCE: resource };
    await register(resource, 'peerN1234567890abcdef', '10.0.11.7', 'http://10.0.11.7:5050');
    const { digest } = await addBlob({ text: `ghcr ${crypto.randomUUID()}` });
    const name = uniqueName('ns');
    const ghcr = await blobGet(name, digest, '10.0.11.7', vars, { query: '?ns=ghcr.io' });
    expect(ghcr.status).toBe(307);
    expect(ghcr.headers.get('Location')).toBe(`http://10.0.11.7:5050/v2/${name}/blobs/${digest}?ns=ghcr.io`);
    const unknown = await blobGet(name, digest, '10.0.11.7', vars, { query: '?ns=quay.io' });
    expect(unknown.status).toBe(404);
    expect(((await unknown.json()) as { errors: { code: string }[] }).errors[0]?.code).toBe('NAME_UNKNOWN');
    const malformed = await blobGet(name, digest, '10.0.11.7', vars, { query: '?ns=a%2Fb' });
    expect(malformed.status).toBe(400);
  });

  it('ServiceRegistry.liveSidecars returns only unexpired records with an endpoint and an observed address, slimmed', async () => {
    const resource = freshResource('sc');
    await register(resource, 'peerK1234567890abcdef', '10.0.12.7', 'http://10.0.12.7:5050');
    const noEndpoint = await call(`/services/${resource}/records/peerM1234567890abcdef`, {
      method: 'PUT',
      ip: '10.0.12.8',
      headers: { Authorization: `Bearer ${ADMIN}` },
      body: { name: 'no-endpoint' },
    });
    expect(noEndpoint.status).toBe(201);
    const noAddress = await call(`/services/${resource}/records/peerP1234567890abcdef`, {
      method: 'PUT',
      headers: { Authorization: `Bearer ${ADMIN}` },
      body: { name: 'no-address', endpoint: 'http://10.0.12.9:5050' },
    });
    expect(noAddress.status).toBe(201);
    const live = await runInDurableObject(env.SERVICE_REGISTRY.getByName(resource), (instance) => instance.liveSidecars(10));
    expect(live).toEqual([{ id: 'peerK1234567890abcdef', endpoint: 'http://10.0.12.7:5050', observedIp: '10.0.12.7', expiresAt: expect.any(Number), multiaddrs: [] }]);
    expect(live[0]!.expiresAt).toBeGreaterThan(Date.now());
  });

  it('CIDR sites: clients anywhere in the site go to a sidecar registered from inside it', async () => {
    const resource = freshResource('sc');
    const vars = { SIDECAR_RESOURCE: resource, SITES: JSON.stringify({ office: ['10.1.0.0/16', 'fd00:1::/32'], lab: ['10.2.0.0/16'] }) };
    await register(resource, 'peerE1234567890abcdef', '10.1.2.3', 'http://10.1.2.3:5050');
    const digest = fakeDigest(1);
    const name = uniqueName('cidr');
    for (const ip of ['10.1.200.9', '10.1.2.3', 'fd00:1::42']) {
      const res = await blobGet(name, digest, ip, vars);
      expect(res.status, ip).toBe(307);
      expect(res.headers.get('Location')).toBe(`http://10.1.2.3:5050/v2/${name}/blobs/${digest}`);
    }
    // Another CIDR site has no sidecars; neither has an address outside every site.
    const text = `cidr ${crypto.randomUUID()}`;
    const stored = await addBlob({ text });
    await expectServedByEdge(await blobGet(name, stored.digest, '10.2.0.5', vars), text);
    await expectServedByEdge(await blobGet(name, stored.digest, '10.3.0.5', vars), text);
  });

  it('rendezvous: one sidecar per digest, stable, and different digests spread over the site', async () => {
    const resource = freshResource('sc');
    const vars = { SIDECAR_RESOURCE: resource, REDIRECT_POLICY: 'rendezvous', SITES: JSON.stringify({ rack: ['10.4.0.0/24'] }) };
    const endpoints = ['http://10.4.0.11:5050', 'http://10.4.0.12:5050', 'http://10.4.0.13:5050'];
    for (const [i, endpoint] of endpoints.entries()) await register(resource, `peerR${i}234567890abcdef`, `10.4.0.1${i + 1}`, endpoint);
    const name = uniqueName('hrw');
    const chosen = new Set<string>();
    for (let i = 0; i < 24; i++) {
      const digest = fakeDigest(i);
      const first = (await blobGet(name, digest, '10.4.0.99', vars)).headers.get('Location')!;
      for (let again = 0; again < 2; again++) {
        expect((await blobGet(name, digest, `10.4.0.${50 + again}`, vars)).headers.get('Location')).toBe(first);
      }
      chosen.add(new URL(first).origin);
    }
    expect([...chosen].sort()).toEqual(endpoints);

    // Removing one sidecar moves only the digests it had.
    const before = new Map<string, string>();
    for (let i = 0; i < 24; i++) before.set(fakeDigest(i), new URL((await blobGet(name, fakeDigest(i), '10.4.0.99', vars)).headers.get('Location')!).origin);
    const del = await call(`/services/${resource}/records/peerR0234567890abcdef`, { method: 'DELETE', headers: { Authorization: `Bearer ${ADMIN}` } });
    expect(del.status).toBeLessThan(300);
    for (const [digest, origin] of before) {
      const now = new URL((await blobGet(name, digest, '10.4.0.99', vars)).headers.get('Location')!).origin;
      if (origin !== endpoints[0]) expect(now).toBe(origin);
      else expect(now).not.toBe(endpoints[0]);
    }
  });

  it('spread: one digest goes to every sidecar of the site in turn', async () => {
    const resource = freshResource('sc');
    const vars = { SIDECAR_RESOURCE: resource, REDIRECT_POLICY: 'spread', SITES: JSON.stringify({ rack: ['10.5.0.0/24'] }) };
    const endpoints = ['http://10.5.0.11:5050', 'http://10.5.0.12:5050', 'http://10.5.0.13:5050'];
    for (const [i, endpoint] of endpoints.entries()) await register(resource, `peerS${i}234567890abcdef`, `10.5.0.1${i + 1}`, endpoint);
    const name = uniqueName('spread');
    const seen = new Map<string, number>();
    for (let i = 0; i < 9; i++) {
      const origin = new URL((await blobGet(name, fakeDigest(7), '10.5.0.99', vars)).headers.get('Location')!).origin;
      seen.set(origin, (seen.get(origin) ?? 0) + 1);
    }
    expect([...seen.keys()].sort()).toEqual(endpoints);
    expect([...seen.values()]).toEqual([3, 3, 3]);
  });

  it('local: a client of a site with sidecars goes to its own host at LOCAL_SIDECAR_PORT', async () => {
    const resource = freshResource('sc');
    const vars = { SIDECAR_RESOURCE: resource, REDIRECT_POLICY: 'local', LOCAL_SIDECAR_PORT: '7311', SITES: JSON.stringify({ farm: ['10.6.0.0/16'] }) };
    // Every host's sidecar is on its loopback bridge, which is all local mode needs.
    await register(resource, 'peerL1234567890abcdef', '10.6.0.2', 'http://127.0.0.1:7311');
    const name = uniqueName('local');
    const res = await blobGet(name, fakeDigest(3), '10.6.9.9', vars, { query: '?ns=docker.io' });
    expect(res.status).toBe(307);
    expect(res.headers.get('Location')).toBe(`http://127.0.0.1:7311/v2/${name}/blobs/${fakeDigest(3)}?ns=docker.io`);
    // A site without sidecars is still served by the edge, local mode or not.
    const text = `local ${crypto.randomUUID()}`;
    const { digest } = await addBlob({ text });
    await expectServedByEdge(await blobGet(name, digest, '10.7.0.1', vars), text);
  });

  it('off: every blob is served by the edge', async () => {
    const resource = freshResource('sc');
    const vars = { SIDECAR_RESOURCE: resource, REDIRECT_POLICY: 'off' };
    await register(resource, 'peerO1234567890abcdef', '10.8.0.7', 'http://10.8.0.7:5050');
    const text = `off ${crypto.randomUUID()}`;
    const { digest } = await addBlob({ text });
    const res = await blobGet(uniqueName('off'), digest, '10.8.0.7', vars);
    await expectServedByEdge(res, text);
    expect(await sha256(new TextEncoder().encode(text))).toBe(digest);
  });

  it('refuses records an owner token puts into the sidecar resource: only admin- and sidecar-written records get clients', async () => {
    const resource = freshResource('sc');
    const vars = { SIDECAR_RESOURCE: resource, OWNER_TOKENS: JSON.stringify({ mallory: 'mallory-token-0123456789' }) };
    const put = await call(`/services/${resource}/records/peerM1234567890abcdef`, {
      method: 'PUT',
      ip: '10.44.0.9',
      headers: { Authorization: 'Bearer mallory-token-0123456789' },
      body: { name: 'fastreg-sidecar', endpoint: 'http://10.44.0.66:5050', ttlSeconds: 60 },
      vars,
    });
    expect(put.status).toBe(403);
    expect(await put.json()).toMatchObject({ errors: [{ code: 'DENIED' }] });
    const digest = fakeDigest(11);
    const name = uniqueName('owner');
    const viaOwner = await blobGet(name, digest, '10.44.0.9', vars);
    expect(viaOwner.status).not.toBe(307);
    await viaOwner.body?.cancel();

    await register(resource, 'peerA1234567890abcdef', '10.44.0.9', 'http://10.44.0.9:5050');
    const viaAdmin = await blobGet(name, digest, '10.44.0.9', vars);
    expect(viaAdmin.status).toBe(307);
    expect(viaAdmin.headers.get('Location')).toBe(`http://10.44.0.9:5050/v2/${name}/blobs/${digest}`);
  });

  it('caches the site table per isolate: a sidecar registered after a lookup is seen once the TTL passed', async () => {
    const resource = freshResource('sc');
    const cachedEnv = { ...env, SIDECAR_RESOURCE: resource, SIDECAR_TABLE_TTL_MS: '600' } as Env;
    const digest = fakeDigest(9);
    const name = uniqueName('ttl');
    const get = async () => {
      const ctx = createExecutionContext();
      const res = await app.fetch(new Request(`http://edge/v2/${name}/blobs/${digest}`, { headers: { 'CF-Connecting-IP': '10.9.0.7' }, redirect: 'manual' }), cachedEnv, ctx);
      await waitOnExecutionContext(ctx);
      await res.body?.cancel();
      return res.status;
    };
    expect(await get()).toBe(404);
    await register(resource, 'peerT1234567890abcdef', '10.9.0.7', 'http://10.9.0.7:5050');
    expect(await get()).toBe(404);
    await new Promise((resolve) => setTimeout(resolve, 700));
    expect(await get()).toBe(307);
  });

  it('through SELF with the default config (rendezvous, resource "fastreg")', async () => {
    const register = await SELF.fetch(`http://edge/services/fastreg/records/peerZ1234567890abcdef`, {
      method: 'PUT',
      headers: { Authorization: `Bearer ${ADMIN}`, 'Content-Type': 'application/json', 'CF-Connecting-IP': '203.0.113.9' },
      body: JSON.stringify({ name: 'fastreg-sidecar', endpoint: 'http://203.0.113.9:5050', ttlSeconds: 60 }),
    });
    expect(register.status).toBeLessThan(300);
    await register.body?.cancel();
    const res = await SELF.fetch(`http://edge/v2/library/selftest/blobs/${fakeDigest(5)}`, { headers: { 'CF-Connecting-IP': '203.0.113.9' }, redirect: 'manual' });
    expect(res.status).toBe(307);
    expect(res.headers.get('Location')).toBe(`http://203.0.113.9:5050/v2/library/selftest/blobs/${fakeDigest(5)}`);
  });
});

describe('site config', () => {
  const base = { FASTREG_TOKEN: ADMIN };
  it('validates SITES, REDIRECT_POLICY, LOCAL_SIDECAR_PORT and SIDECAR_RESOURCE with clear messages', () => {
    expect(parseConfig(base)).toMatchObject({ REDIRECT_POLICY: 'rendezvous', SIDECAR_RESOURCE: 'fastreg', SITES: {}, LOCAL_SIDECAR_PORT: 5050 });
    expect(() => parseConfig({ ...base, SITES: '{"a":["10.0.0.0/33"]}' })).toThrow(/SITES.*10\.0\.0\.0\/33.*not a CIDR/);
    expect(() => parseConfig({ ...base, SITES: '{"a":["10.0.0.1"]}' })).toThrow(/not a CIDR/);
    expect(() => parseConfig({ ...base, SITES: 'nope' })).toThrow(/SITES must be valid JSON/);
    expect(() => parseConfig({ ...base, REDIRECT_POLICY: 'nearest' })).toThrow(/REDIRECT_POLICY/);
    expect(() => parseConfig({ ...base, LOCAL_SIDECAR_PORT: '70000' })).toThrow(/LOCAL_SIDECAR_PORT/);
    expect(() => parseConfig({ ...base, SIDECAR_RESOURCE: 'Bad Name' })).toThrow(/SIDECAR_RESOURCE/);
  });
});
