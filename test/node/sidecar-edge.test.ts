// The sidecar's edge seams against a fake edge in this process: the blob lookup falls through to
// the edge with X-FastReg-Peer, the blob is then provided to peers, and the sidecar registers and
// heartbeats its service record.
import { createHash, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recordTtlSeconds } from '../../sidecar/edge/http-registrar.js';
import { TEST_ENROLL_TOKEN, TEST_TOKEN, hashGet, removeDir, startSidecar, stopAll, waitFor, type SidecarProcess } from '../helpers/sidecar-cluster.js';

const blob = randomBytes(3 * 1024 * 1024);
const digest = `sha256:${createHash('sha256').update(blob).digest('hex')}`;
const slowBlob = randomBytes(2 * 1024 * 1024);
const slowDigest = `sha256:${createHash('sha256').update(slowBlob).digest('hex')}`;
const nsBlob = randomBytes(256 * 1024);
const nsDigest = `sha256:${createHash('sha256').update(nsBlob).digest('hex')}`;
const flakyBlob = randomBytes(128 * 1024);
const flakyDigest = `sha256:${createHash('sha256').update(flakyBlob).digest('hex')}`;
/** What this fake edge hands out at enrollment. */
const FAKE_CREDENTIAL = 'fsc1.fake-credential';
const SWARM_KEY = `/key/swarm/psk/1.0.0/\n/base16/\n${randomBytes(32).toString('hex')}`;
const seen = {
  enrollments: [] as { auth?: string; peerId: string }[],
  blobGets: [] as { peer?: string; auth?: string; path: string }[],
  registrations: [] as { path: string; auth?: string; body: Record<string, unknown> }[],
  heartbeats: [] as string[],
  deletes: [] as string[],
};

const edge = http.createServer((req, res) => {
  const path = req.url ?? '';
  let body = '';
  req.on('data', (d: Buffer) => (body += d.toString()));
  req.on('end', () => {
    if (req.method === 'GET' && path.startsWith('/v2/')) {
      seen.blobGets.push({ peer: req.headers['x-fastreg-peer'] as string | undefined, auth: req.headers.authorization, path });
      if (path === `/v2/library/edgeimg/blobs/${slowDigest}`) {
        // Trickled out over ~1 s so that concurrent sidecar requests overlap.
        res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': String(slowBlob.length) });
        let at = 0;
        const timer = setInterval(() => {
          res.write(slowBlob.subarray(at, at + 128 * 1024));
          at += 128 * 1024;
          if (at >= slowBlob.length) {
            clearInterval(timer);
            res.end();
          }
        }, 60);
        return;
      }
      // The first request's connection is dropped before any answer, as a closing keep-alive socket does.
      if (path === `/v2/library/edgeimg/blobs/${flakyDigest}`) {
        if (seen.blobGets.filter((get) => get.path === path).length === 1) {
          req.socket.destroy();
          return;
        }
        res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': String(flakyBlob.length) });
        res.end(flakyBlob);
        return;
      }
      // Served only for the registry named by ?ns=, as the edge would pick that upstream.
      if (path === `/v2/team/tool/blobs/${nsDigest}?ns=ghcr.io`) {
        res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': String(nsBlob.length) });
        res.end(nsBlob);
        return;
      }
      if (path === `/v2/library/edgeimg/blobs/${digest}`) {
        res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': String(blob.length), 'Docker-Content-Digest': digest });
        res.end(blob);
        return;
      }
      res.writeHead(404, { 'Content-Type': 'application/json' });
      res.end('{"errors":[{"code":"BLOB_UNKNOWN","message":"no"}]}');
      return;
    }
    if (req.method === 'POST' && path === '/sidecars/enroll') {
      const request = JSON.parse(body) as { peerId: string };
      seen.enrollments.push({ auth: req.headers.authorization, peerId: request.peerId });
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ credential: FAKE_CREDENTIAL, expiresAt: new Date(Date.now() + 3_600_000).toISOString(), resource: 'fastreg', pullAccess: 'public', redirectKey: 'AAAA', swarmKey: SWARM_KEY }));
      return;
    }
    if (req.method === 'PUT' && path.startsWith('/services/')) {
      seen.registrations.push({ path, auth: req.headers.authorization, body: JSON.parse(body) as Record<string, unknown> });
      res.writeHead(201, { 'Content-Type': 'application/json' });
      res.end('{}');
      return;
    }
    if (req.method === 'DELETE' && path.startsWith('/services/')) {
      seen.deletes.push(path);
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end('{}');
      return;
    }
    if (req.method === 'POST' && path.endsWith('/heartbeat')) {
      seen.heartbeats.push(path);
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end('{}');
      return;
    }
    res.writeHead(404);
    res.end();
  });
});

let edgeUrl: string;
const nodes: SidecarProcess[] = [];

beforeAll(async () => {
  await new Promise<void>((resolve) => edge.listen(0, '127.0.0.1', resolve));
  edgeUrl = `http://127.0.0.1:${(edge.address() as AddressInfo).port}`;
  nodes.push(await startSidecar({ name: 'edge-a', args: ['--edge', edgeUrl, '--heartbeat-interval', '500'] }));
  // A has the edge's swarm key; B, with no edge, is given the same key as a file to join it.
  const pskFile = join(nodes[0]!.dir, 'swarm.key');
  writeFileSync(pskFile, SWARM_KEY, { mode: 0o600 });
  nodes.push(await startSidecar({ name: 'edge-b', bootstrap: [nodes[0]!.addr], args: ['--psk-file', pskFile] }));
});

afterAll(async () => {
  await stopAll(nodes);
  await Promise.all(nodes.map((n) => removeDir(n.dir)));
  await new Promise((resolve) => edge.close(resolve));
});

describe('sidecar and the edge', () => {
  it('falls through to the edge with X-FastReg-Peer, then serves peers over P2P', async () => {
    const [a, b] = nodes as [SidecarProcess, SidecarProcess];
    const first = await hashGet(`${a.url}/v2/library/edgeimg/blobs/${digest}`);
    expect(first.status).toBe(200);
    expect(first.digest).toBe(digest);
    expect(first.headers['x-fastreg-source']).toBe('edge');
    expect(seen.blobGets).toEqual([{ peer: a.peerId, auth: `Bearer ${FAKE_CREDENTIAL}`, path: `/v2/library/edgeimg/blobs/${digest}` }]);
    // B has no edge: it gets the blob from A, and the edge sees no second request.
    await waitFor(async () => ((await (await fetch(`${b.url}/providers/${digest}`)).json()) as { providers: { peerId: string }[] }).providers.some((p) => p.peerId === a.peerId), {
      timeoutMs: 15_000,
      what: 'A provides the blob',
    });
    const second = await hashGet(`${b.url}/v2/library/edgeimg/blobs/${digest}`);
    expect(second.digest).toBe(digest);
    expect(second.headers['x-fastreg-source']).toBe('p2p');
    expect(seen.blobGets).toHaveLength(1);
    // Unknown everywhere: a 404 from the edge becomes BLOB_UNKNOWN.
    const missing = await fetch(`${a.url}/v2/library/edgeimg/blobs/sha256:${'1'.repeat(64)}`);
    expect(missing.status).toBe(404);
    expect(((await missing.json()) as { errors: { code: string }[] }).errors[0]?.code).toBe('BLOB_UNKNOWN');
  });

  it('concurrent requests for one digest share one fetch', async () => {
    const a = nodes[0]!;
    const before = seen.blobGets.length;
    const results = await Promise.all(Array.from({ length: 6 }, () => hashGet(`${a.url}/v2/library/edgeimg/blobs/${slowDigest}`)));
    for (const result of results) {
      expect(result.status).toBe(200);
      expect(result.digest).toBe(slowDigest);
    }
    expect(seen.blobGets.length - before).toBe(1);
  });

  it('a request to the edge that got no answer (connection dropped) is retried', async () => {
    const a = nodes[0]!;
    const got = await hashGet(`${a.url}/v2/library/edgeimg/blobs/${flakyDigest}`);
    expect(got.status).toBe(200);
    expect(got.digest).toBe(flakyDigest);
    expect(seen.blobGets.filter((get) => get.path === `/v2/library/edgeimg/blobs/${flakyDigest}`)).toHaveLength(2);
  });

  it('an unreachable edge answers 502 with an OCI error body', async () => {
    const closed = http.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const closedUrl = `http://127.0.0.1:${(closed.address() as AddressInfo).port}`;
    await new Promise((resolve) => closed.close(resolve));
    const lonely = await startSidecar({ name: 'edge-down', args: ['--edge', closedUrl], env: { FASTREG_ENROLL_TOKEN: '' } });
    nodes.push(lonely);
    const response = await fetch(`${lonely.url}/v2/library/edgeimg/blobs/sha256:${'2'.repeat(64)}`);
    expect(response.status).toBe(502);
    const body = (await response.json()) as { errors: { code: string; message: string }[] };
    expect(body.errors[0]?.code).toBe('UPSTREAM_FAILED');
    expect(body.errors[0]?.message).toMatch(/^edge unreachable: /);
  });

  it('passes ?ns= on to the edge, and rejects a malformed one before fetching', async () => {
    const a = nodes[0]!;
    const got = await hashGet(`${a.url}/v2/team/tool/blobs/${nsDigest}?ns=ghcr.io`);
    expect(got.status).toBe(200);
    expect(got.digest).toBe(nsDigest);
    expect(seen.blobGets.at(-1)).toMatchObject({ peer: a.peerId, path: `/v2/team/tool/blobs/${nsDigest}?ns=ghcr.io` });
    const before = seen.blobGets.length;
    const bad = await fetch(`${a.url}/v2/team/tool/blobs/sha256:${'3'.repeat(64)}?ns=a%2Fb`);
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { errors: { code: string }[] }).errors[0]?.code).toBe('INVALID_REQUEST');
    expect(seen.blobGets.length).toBe(before);
  });

  it('the record TTL is three heartbeat intervals, at least 3 s', () => {
    expect(recordTtlSeconds(500)).toBe(3);
    expect(recordTtlSeconds(1_000)).toBe(3);
    expect(recordTtlSeconds(20_000)).toBe(60);
    expect(recordTtlSeconds(3_600_000)).toBe(10_800);
    expect(recordTtlSeconds(86_400_000)).toBe(259_200);
  });

  it('enrolls with the enrollment token, then registers and heartbeats with its own credential (never the admin token)', async () => {
    const a = nodes[0]!;
    await waitFor(() => seen.registrations.length >= 1 && seen.heartbeats.length >= 2, { timeoutMs: 10_000, what: 'registration and heartbeats' });
    expect(seen.enrollments[0]).toEqual({ auth: `Bearer ${TEST_ENROLL_TOKEN}`, peerId: a.peerId });
    const registration = seen.registrations[0]!;
    expect(registration.path).toBe(`/services/fastreg/records/${a.peerId}`);
    expect(registration.auth).toBe(`Bearer ${FAKE_CREDENTIAL}`);
    expect(JSON.stringify(seen)).not.toContain(TEST_TOKEN);
    expect(registration.body).toMatchObject({ peerId: a.peerId, endpoint: a.url, category: 'sidecar', ttlSeconds: 3 });
    expect(registration.body.multiaddrs).toContain(a.addr);
    expect(seen.heartbeats[0]).toBe(`/services/fastreg/records/${a.peerId}/heartbeat`);
  });

  it('deletes its record when it stops, so the edge stops sending it clients at once', async () => {
    const a = nodes[0]!;
    expect(seen.deletes).toEqual([]);
    expect(await a.stop()).toBe(0);
    expect(seen.deletes).toEqual([`/services/fastreg/records/${a.peerId}`]);
  });
});
