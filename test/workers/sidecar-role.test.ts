import { env } from 'cloudflare:test';
import { base58btc } from 'multiformats/bases/base58';
import { describe, expect, it } from 'vitest';
import { enrollMessage, PULL_EXPIRES_PARAM, PULL_SIGNATURE_PARAM, toBase64Url, verifyPull, fromBase64Url, type EnrollResponse } from '../../workers/shared/sidecars/auth.js';
import { parseConfig } from '../../workers/shared/edge-config.js';
import { verifyCredential } from '../../workers/sidecars/credential.js';
import { sidecarKeys } from '../../workers/sidecars/keys.js';
import { callEdge as call } from './edge-call.js';
import { freshResource } from './services-fixtures.js';
import { addBlob, uniqueName } from './registry-helpers.js';

// The sidecar role (issue 12): a sidecar enrolls with the fleet's enrollment token and a signature by
// its libp2p Ed25519 key, and gets a credential that may write only its own record, claim fills as
// itself and pull blobs. Each attack is first shown to need that credential's limits.

const ADMIN = 'test-token-0123456789abcdef';
const ENROLL = 'test-enroll-token-0123456789abcdef';

interface Peer {
  peerId: string;
  sign(message: Uint8Array): Promise<Uint8Array>;
}

/** A libp2p-style Ed25519 identity: the peer ID is the identity multihash of the protobuf public key. */
async function newPeer(): Promise<Peer> {
  const pair = (await crypto.subtle.generateKey({ name: 'Ed25519' }, true, ['sign', 'verify'])) as CryptoKeyPair;
  const raw = new Uint8Array((await crypto.subtle.exportKey('raw', pair.publicKey)) as ArrayBuffer);
  const peerId = base58btc.baseEncode(Uint8Array.from([0x00, 0x24, 0x08, 0x01, 0x12, 0x20, ...raw]));
  return { peerId, sign: async (message) => new Uint8Array(await crypto.subtle.sign({ name: 'Ed25519' }, pair.privateKey, message)) };
}

async function enrollAs(peer: Peer, options: { token?: string; signer?: Peer; issuedAt?: number; vars?: Record<string, string> } = {}): Promise<Response> {
  const issuedAt = options.issuedAt ?? Date.now();
  const signature = toBase64Url(await (options.signer ?? peer).sign(enrollMessage(peer.peerId, issuedAt)));
  return call('/sidecars/enroll', { method: 'POST', token: options.token ?? ENROLL, body: { peerId: peer.peerId, issuedAt, signature }, ...(options.vars && { vars: options.vars }) });
}

async function credentialOf(peer: Peer, vars?: Record<string, string>): Promise<EnrollResponse> {
  const res = await enrollAs(peer, vars ? { vars } : {});
  expect(res.status, await res.clone().text()).toBe(200);
  return (await res.json()) as EnrollResponse;
}

function record(endpoint: string) {
  return { name: 'fastreg-sidecar', endpoint, category: 'sidecar', ttlSeconds: 60 };
}

describe('sidecar enrollment', () => {
  it('gives a peer that proves its key a credential, the redirect key and the swarm key', async () => {
    const peer = await newPeer();
    const answer = await credentialOf(peer);
    expect(answer.credential).toMatch(/^fsc1\./);
    expect(Date.parse(answer.expiresAt) - Date.now()).toBeGreaterThan(3_500_000);
    expect(answer.resource).toBe('fastreg');
    expect(answer.pullAccess).toBe('public');
    expect(fromBase64Url(answer.redirectKey)).toHaveLength(32);
    expect(answer.swarmKey).toMatch(/^\/key\/swarm\/psk\/1\.0\.0\/\n\/base16\/\n[0-9a-f]{64}$/);
    // Every sidecar of the edge gets the same swarm and redirect keys.
    const other = await credentialOf(await newPeer());
    expect(other.swarmKey).toBe(answer.swarmKey);
    expect(other.redirectKey).toBe(answer.redirectKey);
  });

  it('refuses a wrong enrollment token, a signature by another key, and a stale request', async () => {
    const peer = await newPeer();
    expect((await enrollAs(peer, { token: 'not-the-enroll-token-000' })).status).toBe(401);
    expect((await enrollAs(peer, { token: ADMIN })).status).toBe(401);
    // Claiming someone else's peer ID: the signature is by the wrong key.
    expect((await enrollAs(peer, { signer: await newPeer() })).status).toBe(401);
    expect((await enrollAs(peer, { issuedAt: Date.now() - 10 * 60_000 })).status).toBe(401);
    const bad = await call('/sidecars/enroll', { method: 'POST', token: ENROLL, body: { peerId: 'QmNotEd25519', issuedAt: Date.now(), signature: 'AAAA' } });
    expect(bad.status).toBe(401);
  });

  it('gives a credential that dies at its expiry (SIDECAR_CREDENTIAL_TTL_SECONDS)', async () => {
    const peer = await newPeer();
    const { credential, expiresAt } = await credentialOf(peer);
    const key = (await sidecarKeys(parseConfig(env as unknown as Record<string, unknown>))!).credential;
    const expires = Date.parse(expiresAt) / 1000;
    expect(await verifyCredential(key, credential, expires - 1)).toEqual({ peerId: peer.peerId, expires });
    expect(await verifyCredential(key, credential, expires + 1)).toBeUndefined();
  });

  it('is off without SIDECAR_ENROLL_TOKEN', async () => {
    const peer = await newPeer();
    const res = await enrollAs(peer, { vars: { SIDECAR_ENROLL_TOKEN: '' } });
    expect(res.status).toBe(401);
  });
});

describe('what a sidecar credential may do', () => {
  it('register, heartbeat and delete its own record in SIDECAR_RESOURCE', async () => {
    const resource = freshResource('sr');
    const vars = { SIDECAR_RESOURCE: resource };
    const peer = await newPeer();
    const { credential } = await credentialOf(peer, vars);
    const put = await call(`/services/${resource}/records/${peer.peerId}`, { method: 'PUT', token: credential, ip: '10.9.0.1', body: record('http://10.9.0.1:5050'), vars });
    expect(put.status, await put.clone().text()).toBe(201);
    expect(((await put.json()) as { owner: string }).owner).toBe(`sidecar:${peer.peerId}`);
    expect((await call(`/services/${resource}/records/${peer.peerId}/heartbeat`, { method: 'POST', token: credential, vars })).status).toBe(200);
    expect((await call(`/services/${resource}/records/${peer.peerId}`, { method: 'DELETE', token: credential, vars })).status).toBe(200);
  });

  it("gets 403 on another sidecar's record (which the admin token, the attack before, could overwrite)", async () => {
    const resource = freshResource('sr');
    const vars = { SIDECAR_RESOURCE: resource };
    const victim = await newPeer();
    const attacker = await newPeer();
    const victimCredential = (await credentialOf(victim, vars)).credential;
    const attackerCredential = (await credentialOf(attacker, vars)).credential;
    expect((await call(`/services/${resource}/records/${victim.peerId}`, { method: 'PUT', token: victimCredential, ip: '10.9.0.2', body: record('http://10.9.0.2:5050'), vars })).status).toBe(201);
    // The attack as it was: a shared admin token can rewrite any sidecar's endpoint.
    const hijack = await call(`/services/${resource}/records/${victim.peerId}`, { method: 'PUT', token: ADMIN, ip: '10.9.0.2', body: record('http://10.66.6.6:5050'), vars });
    expect(hijack.status).toBe(200);
    // With its own credential, another sidecar cannot.
    for (const [method, suffix, body] of [
      ['PUT', '', record('http://10.66.6.6:5050')],
      ['POST', '/heartbeat', undefined],
      ['DELETE', '', undefined],
    ] as const) {
      const res = await call(`/services/${resource}/records/${victim.peerId}${suffix}`, { method, token: attackerCredential, vars, ...(body && { body }) });
      expect(res.status, `${method} ${suffix}`).toBe(403);
      expect(((await res.json()) as { errors: { code: string }[] }).errors[0]?.code).toBe('DENIED');
    }
    // Nor records under another name, in another resource, or the resource itself.
    expect((await call(`/services/${resource}/records/not-my-peer-id`, { method: 'PUT', token: attackerCredential, body: record('http://10.66.6.6:5050'), vars })).status).toBe(403);
    expect((await call(`/services/other-${resource}/records/${attacker.peerId}`, { method: 'PUT', token: attackerCredential, body: record('http://10.66.6.6:5050'), vars })).status).toBe(403);
    expect((await call(`/services/${resource}`, { method: 'PUT', token: attackerCredential, body: { description: 'mine' }, vars })).status).toBe(403);
  });

  it('gets 403 on /leases (which the admin token could write)', async () => {
    const { credential } = await credentialOf(await newPeer());
    const body = { version: 1, entries: [{ key: `k-${crypto.randomUUID()}` }] };
    expect((await call('/leases/register', { method: 'POST', token: ADMIN, body })).status).toBe(200);
    for (const path of ['/leases/register', '/leases/can-offload', '/leases/match-prefix']) {
      const res = await call(path, { method: 'POST', token: credential, body });
      expect(res.status, path).toBe(403);
    }
    expect((await call('/leases/stats', { token: credential })).status).toBe(403);
  });

  it('pulls blobs but not manifests when PULL_ACCESS=token; a forged or expired credential is 401', async () => {
    const vars = { PULL_ACCESS: 'token' };
    const { credential } = await credentialOf(await newPeer(), vars);
    const text = `sidecar pull ${crypto.randomUUID()}`;
    const { digest } = await addBlob({ text });
    const name = uniqueName('sidecar-pull');
    expect((await call(`/v2/${name}/blobs/${digest}`, { vars })).status).toBe(401);
    const blob = await call(`/v2/${name}/blobs/${digest}`, { token: credential, vars });
    expect(blob.status).toBe(200);
    expect(await blob.text()).toBe(text);
    expect((await call(`/v2/${name}/manifests/latest`, { token: credential, vars })).status).toBe(403);
    const [head, payload, mac] = credential.split('.');
    const forged = `${head}.${payload}.${mac!.slice(0, -2)}${mac!.endsWith('AA') ? 'BB' : 'AA'}`;
    expect((await call(`/v2/${name}/blobs/${digest}`, { token: forged, vars })).status).toBe(401);
    // A credential minted under another SIDECAR_KEY (or expired: its MAC covers exp) is worthless here.
    expect((await call(`/v2/${name}/blobs/${digest}`, { token: credential, vars: { ...vars, SIDECAR_KEY: 'another-sidecar-key-0123456789abcdef-xyz' } })).status).toBe(401);
  });
});

describe('redirect targets', () => {
  it('are records of the sidecar role and of the admin, not of owner tokens', async () => {
    const resource = freshResource('sr');
    const vars = { SIDECAR_RESOURCE: resource, OWNER_TOKENS: JSON.stringify({ team: 'team-token-0123456789abcdef' }) };
    const peer = await newPeer();
    const { credential } = await credentialOf(peer, vars);
    const text = `redirect target ${crypto.randomUUID()}`;
    const { digest } = await addBlob({ text });
    const name = uniqueName('targets');
    // An owner may not squat the sidecar's peer ID (or any record) in the sidecars' resource.
    for (const id of ['owner-record', peer.peerId]) {
      const squat = await call(`/services/${resource}/records/${id}`, { method: 'PUT', token: 'team-token-0123456789abcdef', ip: '10.8.0.1', body: record('http://10.66.6.6:5050'), vars });
      expect(squat.status).toBe(403);
      await squat.body?.cancel();
    }
    expect((await call(`/v2/${name}/blobs/${digest}`, { ip: '10.8.0.1', vars })).status).toBe(200);
    expect((await call(`/services/${resource}/records/${peer.peerId}`, { method: 'PUT', token: credential, ip: '10.8.0.2', body: record('http://10.8.0.2:5050'), vars })).status).toBe(201);
    const redirected = await call(`/v2/${name}/blobs/${digest}`, { ip: '10.8.0.2', vars });
    expect(redirected.status).toBe(307);
    expect(redirected.headers.get('Location')).toBe(`http://10.8.0.2:5050/v2/${name}/blobs/${digest}`);
  });

  it('with PULL_ACCESS=token get a signature of (digest, ns, repository, expiry) that the redirect key verifies', async () => {
    const resource = freshResource('sr');
    const vars = { SIDECAR_RESOURCE: resource, PULL_ACCESS: 'token' };
    const peer = await newPeer();
    const answer = await credentialOf(peer, vars);
    expect(answer.pullAccess).toBe('token');
    expect((await call(`/services/${resource}/records/${peer.peerId}`, { method: 'PUT', token: answer.credential, ip: '10.8.1.2', body: record('http://10.8.1.2:5050'), vars })).status).toBe(201);
    const { digest } = await addBlob({ text: `signed ${crypto.randomUUID()}` });
    const name = uniqueName('signed');
    const redirected = await call(`/v2/${name}/blobs/${digest}?ns=docker.io`, { ip: '10.8.1.2', token: ADMIN, vars });
    expect(redirected.status).toBe(307);
    const location = new URL(redirected.headers.get('Location')!);
    expect(location.origin + location.pathname).toBe(`http://10.8.1.2:5050/v2/${name}/blobs/${digest}`);
    const expires = Number(location.searchParams.get(PULL_EXPIRES_PARAM));
    const signature = location.searchParams.get(PULL_SIGNATURE_PARAM)!;
    expect(expires - Date.now() / 1000).toBeGreaterThan(60);
    expect(expires - Date.now() / 1000).toBeLessThanOrEqual(120);
    const key = fromBase64Url(answer.redirectKey)!;
    expect(await verifyPull(key, { digest, name, ns: 'docker.io', expires }, signature)).toBe(true);
    // It covers exactly that blob, repository and registry.
    expect(await verifyPull(key, { digest, name: `${name}-other`, ns: 'docker.io', expires }, signature)).toBe(false);
    expect(await verifyPull(key, { digest, name, expires }, signature)).toBe(false);
    expect(await verifyPull(key, { digest, name, ns: 'docker.io', expires: expires + 1 }, signature)).toBe(false);
    expect(await verifyPull(key, { digest, name, ns: 'docker.io', expires }, signature, expires + 1)).toBe(false);
  });
});
