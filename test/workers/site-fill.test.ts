import { createExecutionContext, env, runDurableObjectAlarm, runInDurableObject, waitOnExecutionContext } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { siteFillKey } from '../../durable-objects/site-fill-client.js';
import { createApp } from '../../workers/app.js';
import { addBlob, uniqueName, upstreamLog } from './registry-helpers.js';

// One filler per site (issue 11): a blob GET from a live sidecar of a site claims the blob for that
// site in SiteFill; the site's other sidecars get a 307 to the filler with X-FastReg-Filler. Claims
// expire, follow the filler's liveness, and are never made for anonymous or non-sidecar requests.

const ADMIN = 'test-token-0123456789abcdef';
const app = createApp();
const SITE = 'lab';
let counter = 0;

type Vars = Record<string, string>;

function freshSite(): { resource: string; vars: Vars; net: string } {
  const n = 30 + (counter++ % 200);
  const resource = `sf-${Date.now().toString(36)}-${counter.toString(36)}`;
  return { resource, net: `10.9.${n}`, vars: { SIDECAR_RESOURCE: resource, SITES: JSON.stringify({ [SITE]: [`10.9.${n}.0/24`] }), SIDECAR_TABLE_TTL_MS: '0' } };
}

async function call(path: string, options: { method?: string; ip?: string; headers?: Record<string, string>; body?: unknown; vars: Vars }): Promise<Response> {
  const headers = new Headers(options.headers);
  if (options.ip) headers.set('CF-Connecting-IP', options.ip);
  if (options.body !== undefined) headers.set('Content-Type', 'application/json');
  const request = new Request(`http://edge${path}`, { method: options.method ?? 'GET', headers, redirect: 'manual', ...(options.body !== undefined && { body: JSON.stringify(options.body) }) });
  const ctx = createExecutionContext();
  const response = await app.fetch(request, { ...env, ...options.vars } as Env, ctx);
  await waitOnExecutionContext(ctx);
  return response;
}

async function register(vars: Vars, id: string, ip: string): Promise<void> {
  const res = await call(`/services/${vars.SIDECAR_RESOURCE}/records/${id}`, {
    method: 'PUT',
    ip,
    vars,
    headers: { Authorization: `Bearer ${ADMIN}` },
    body: { name: 'fastreg-sidecar', endpoint: `http://${ip}:5050`, multiaddrs: [`/ip4/${ip}/tcp/4001/p2p/${id}`], tags: ['sidecar'], category: 'sidecar', ttlSeconds: 60 },
  });
  expect(res.status, await res.clone().text()).toBeLessThan(300);
  await res.body?.cancel();
}

/** A sidecar's own blob GET: X-FastReg-Peer and the sidecar token, as HttpEdgeSource sends it. */
async function sidecarGet(vars: Vars, name: string, digest: string, peer: string, ip: string, extra: Record<string, string> = {}): Promise<Response> {
  const response = await call(`/v2/${name}/blobs/${digest}`, { ip, vars, headers: { 'X-FastReg-Peer': peer, Authorization: `Bearer ${ADMIN}`, ...extra } });
  return response;
}

async function drain(response: Response): Promise<string> {
  return new TextDecoder().decode(await response.arrayBuffer());
}

const A = 'peerSFa1234567890abcdef';
const B = 'peerSFb1234567890abcdef';
const C = 'peerSFc1234567890abcdef';

describe('one filler per site', () => {
  it('serves the first sidecar of a site and sends the others to it (307 with X-FastReg-Filler and its addresses)', async () => {
    const { vars, net } = freshSite();
    await register(vars, A, `${net}.2`);
    await register(vars, B, `${net}.3`);
    await register(vars, C, `${net}.4`);
    const text = `site fill ${crypto.randomUUID()}`;
    const { digest } = await addBlob({ text });
    const name = uniqueName('sitefill');

    const first = await sidecarGet(vars, name, digest, A, `${net}.2`);
    expect(first.status).toBe(200);
    expect(await drain(first)).toBe(text);
    for (const [peer, ip] of [[B, `${net}.3`], [C, `${net}.4`]] as const) {
      const pointed = await sidecarGet(vars, name, digest, peer, ip);
      expect(pointed.status).toBe(307);
      expect(pointed.headers.get('X-FastReg-Filler')).toBe(A);
      expect(pointed.headers.get('X-FastReg-Filler-Addrs')).toBe(`/ip4/${net}.2/tcp/4001/p2p/${A}`);
      expect(pointed.headers.get('Location')).toBe(`http://${net}.2:5050/v2/${name}/blobs/${digest}`);
      await pointed.body?.cancel();
    }
    // The filler itself asking again (a retry) is served.
    expect((await sidecarGet(vars, name, digest, A, `${net}.2`)).status).toBe(200);
    // The upstream was read once; the edge served the site's sidecars once plus A's retry.
    expect(await upstreamLog(digest, 'GET')).toHaveLength(1);
  });

  it('serves a sidecar that could not stream from the filler, which then fills for the site', async () => {
    const { vars, net } = freshSite();
    await register(vars, A, `${net}.2`);
    await register(vars, B, `${net}.3`);
    const { digest } = await addBlob({ text: `failover ${crypto.randomUUID()}` });
    const name = uniqueName('sitefill');
    await drain(await sidecarGet(vars, name, digest, A, `${net}.2`));
    expect((await sidecarGet(vars, name, digest, B, `${net}.3`)).status).toBe(307);
    const served = await sidecarGet(vars, name, digest, B, `${net}.3`, { 'X-FastReg-Filler-Failed': A });
    expect(served.status).toBe(200);
    await drain(served);
    const pointed = await sidecarGet(vars, name, digest, A, `${net}.2`);
    expect(pointed.status).toBe(307);
    expect(pointed.headers.get('X-FastReg-Filler')).toBe(B);
  });

  it('a claim held by a sidecar that is no longer live is taken over', async () => {
    const { vars, net, resource } = freshSite();
    await register(vars, A, `${net}.2`);
    await register(vars, B, `${net}.3`);
    const { digest } = await addBlob({ text: `dead filler ${crypto.randomUUID()}` });
    const name = uniqueName('sitefill');
    await drain(await sidecarGet(vars, name, digest, A, `${net}.2`));
    await runInDurableObject(env.SERVICE_REGISTRY.getByName(resource), (_instance, state) => {
      state.storage.sql.exec('UPDATE records SET expires_at = ? WHERE id = ?', Date.now() - 1, A);
    });
    const served = await sidecarGet(vars, name, digest, B, `${net}.3`);
    expect(served.status).toBe(200);
    await drain(served);
    expect((await runInDurableObject(env.SITE_FILL.getByName(siteFillKey(SITE, digest)), (instance) => instance.current()))?.filler).toBe(B);
  });

  it('creates no claim for anonymous requests, other sites, or sidecars that are not live in the site', async () => {
    const { vars, net } = freshSite();
    await register(vars, A, `${net}.2`);
    const { digest } = await addBlob({ text: `anonymous ${crypto.randomUUID()}` });
    const name = uniqueName('sitefill');
    const anonymous = await call(`/v2/${name}/blobs/${digest}`, { ip: `${net}.2`, vars, headers: { 'X-FastReg-Peer': A } });
    expect(anonymous.status).toBe(200);
    await drain(anonymous);
    const unknownPeer = await sidecarGet(vars, name, digest, 'peerNotRegistered123456', `${net}.9`);
    expect(unknownPeer.status).toBe(200);
    await drain(unknownPeer);
    const claim = await runInDurableObject(env.SITE_FILL.getByName(siteFillKey(SITE, digest)), (instance) => instance.current());
    expect(claim).toBeUndefined();
  });

  it('a claim expires: the alarm deletes it and the next sidecar becomes the filler', async () => {
    const { vars, net } = freshSite();
    await register(vars, A, `${net}.2`);
    await register(vars, B, `${net}.3`);
    const { digest } = await addBlob({ text: `expiry ${crypto.randomUUID()}` });
    const name = uniqueName('sitefill');
    await drain(await sidecarGet(vars, name, digest, A, `${net}.2`));
    const stub = env.SITE_FILL.getByName(siteFillKey(SITE, digest));
    expect((await runInDurableObject(stub, (instance) => instance.current()))?.filler).toBe(A);
    await runInDurableObject(stub, (_instance, state) => {
      state.storage.sql.exec('UPDATE claim SET expires_at = ?', Date.now() - 1);
    });
    // The in-memory copy is reloaded by the alarm's check: move it too, as a real expiry would.
    await runInDurableObject(stub, (instance) => {
      (instance as unknown as { claimed?: { expiresAt: number } }).claimed!.expiresAt = Date.now() - 1;
    });
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect(await runInDurableObject(stub, (instance) => instance.current())).toBeUndefined();
    const served = await sidecarGet(vars, name, digest, B, `${net}.3`);
    expect(served.status).toBe(200);
    await drain(served);
    expect((await runInDurableObject(stub, (instance) => instance.current()))?.filler).toBe(B);
  });
});
