import { describe, expect, it } from 'vitest';
import { OciError } from '../../workers/shared/oci/index.js';
import { parseChallenge } from '../../workers/upstream/challenge.js';
import { UpstreamClient, type Fetcher } from '../../workers/upstream/client.js';
import { stats } from '../../workers/metrics/stats.js';

// Unit tests of the upstream client with a scripted fetch: what it sends, in which order.

interface Sent {
  url: string;
  method: string;
  headers: Record<string, string>;
  redirect?: string;
}

function scripted(handler: (req: Sent, index: number) => Response | Promise<Response>): { fetcher: Fetcher; sent: Sent[] } {
  const sent: Sent[] = [];
  const fetcher: Fetcher = async (url, init) => {
    const headers: Record<string, string> = {};
    new Headers(init.headers).forEach((value, key) => (headers[key] = value));
    const req = { url, method: init.method ?? 'GET', headers, redirect: init.redirect as string | undefined };
    sent.push(req);
    return handler(req, sent.length - 1);
  };
  return { fetcher, sent };
}

let counter = 0;
function base(): string {
  counter += 1;
  return `https://registry-${counter}-${crypto.randomUUID().slice(0, 6)}.test`;
}

const request = { method: 'GET' as const, path: '/v2/library/x/manifests/1', scope: 'repository:library/x:pull', notFound: 'MANIFEST_UNKNOWN' as const, what: 'manifest x:1' };

describe('UpstreamClient', () => {
  it('parses Bearer and Basic challenges', () => {
    expect(parseChallenge('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull"')).toEqual({
      scheme: 'bearer',
      params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/alpine:pull' },
    });
    expect(parseChallenge('Basic realm="x"')?.scheme).toBe('basic');
    expect(parseChallenge(null)).toBeUndefined();
  });

  it('runs the Bearer flow with Basic credentials at the realm, then caches the token per scope', async () => {
    const upstream = base();
    const { fetcher, sent } = scripted((req) => {
      if (req.url.startsWith('https://auth.test/token')) return Response.json({ token: 'tok-1', expires_in: 300 });
      if (req.headers.authorization === 'Bearer tok-1') return new Response('{}', { headers: { 'ratelimit-remaining': '76;w=21600' } });
      return new Response(null, { status: 401, headers: { 'WWW-Authenticate': 'Bearer realm="https://auth.test/token",service="svc",scope="repository:library/x:pull"' } });
    });
    const client = new UpstreamClient({ registry: 'unit.test', baseUrl: upstream, timeoutMs: 2000, fetcher, credentials: { username: 'u', password: 'p' } });
    const res = await client.request({ ...request, accept: 'application/vnd.oci.image.index.v1+json' });
    expect(res.response.status).toBe(200);
    expect(sent.map((s) => s.url)).toEqual([
      `${upstream}/v2/library/x/manifests/1`,
      'https://auth.test/token?service=svc&scope=repository%3Alibrary%2Fx%3Apull',
      `${upstream}/v2/library/x/manifests/1`,
    ]);
    expect(sent[0]?.headers.accept).toBe('application/vnd.oci.image.index.v1+json');
    expect(sent[0]?.redirect).toBe('manual');
    expect(sent[1]?.headers.authorization).toBe(`Basic ${btoa('u:p')}`);
    expect(sent[2]?.headers.authorization).toBe('Bearer tok-1');
    expect(stats.upstreams['unit.test']?.ratelimitRemaining).toBe(76);

    await client.request(request);
    expect(sent).toHaveLength(4);
    expect(sent[3]?.headers.authorization).toBe('Bearer tok-1');
  });

  it('sends Basic credentials when challenged with Basic, and maps an unanswerable 401 to DENIED', async () => {
    const { fetcher, sent } = scripted((req) =>
      req.headers.authorization === `Basic ${btoa('u:p')}` ? new Response('{}') : new Response(null, { status: 401, headers: { 'WWW-Authenticate': 'Basic realm="r"' } }),
    );
    const withCredentials = new UpstreamClient({ registry: 'unit.test', baseUrl: base(), timeoutMs: 2000, fetcher, credentials: { username: 'u', password: 'p' } });
    expect((await withCredentials.request(request)).response.status).toBe(200);
    expect(sent.map((s) => s.headers.authorization)).toEqual([undefined, `Basic ${btoa('u:p')}`]);

    const anonymous = new UpstreamClient({ registry: 'unit.test', baseUrl: base(), timeoutMs: 2000, fetcher });
    await expect(anonymous.request(request)).rejects.toMatchObject({ code: 'DENIED' });
  });

  it('follows redirects manually and never sends Authorization to the redirect target', async () => {
    const { fetcher, sent } = scripted((req) => {
      if (req.url.startsWith('https://cdn.test/')) return new Response('blob-bytes');
      return new Response(null, { status: 307, headers: { Location: 'https://cdn.test/blob?sig=1' } });
    });
    const client = new UpstreamClient({ registry: 'unit.test', baseUrl: base(), timeoutMs: 2000, fetcher, credentials: { token: 'static' } });
    const res = await client.request({ ...request, path: '/v2/x/blobs/sha256:00', notFound: 'BLOB_UNKNOWN' });
    expect(await res.response.text()).toBe('blob-bytes');
    expect(sent[0]?.headers.authorization).toBe('Bearer static');
    expect(sent[1]?.url).toBe('https://cdn.test/blob?sig=1');
    expect(sent[1]?.headers.authorization).toBeUndefined();
  });

  it.each([
    [404, 'MANIFEST_UNKNOWN', 404],
    [429, 'TOOMANYREQUESTS', 429],
    [500, 'UPSTREAM_FAILED', 502],
    [503, 'UPSTREAM_FAILED', 502],
  ])('maps upstream %i to %s (%i)', async (status, code, mapped) => {
    const { fetcher } = scripted(() => new Response('x', { status, headers: status === 429 ? { 'Retry-After': '9' } : {} }));
    const client = new UpstreamClient({ registry: 'unit.test', baseUrl: base(), timeoutMs: 2000, fetcher });
    const err = (await client.request(request).catch((e: unknown) => e)) as OciError;
    expect(err).toBeInstanceOf(OciError);
    expect(err.code).toBe(code);
    expect(err.status).toBe(mapped);
    if (status === 429) expect(err.headers['Retry-After']).toBe('9');
  });

  it('gives up with UPSTREAM_TIMEOUT when no headers arrive in time', async () => {
    const fetcher: Fetcher = (_url, init) =>
      new Promise((_resolve, reject) => init.signal?.addEventListener('abort', () => reject(init.signal?.reason)));
    const client = new UpstreamClient({ registry: 'unit.test', baseUrl: base(), timeoutMs: 150, fetcher });
    const started = Date.now();
    await expect(client.request(request)).rejects.toMatchObject({ code: 'UPSTREAM_TIMEOUT', status: 504 });
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('maps a network failure to UPSTREAM_FAILED', async () => {
    const client = new UpstreamClient({ registry: 'unit.test', baseUrl: base(), timeoutMs: 2000, fetcher: () => Promise.reject(new TypeError('connection refused')) });
    await expect(client.request(request)).rejects.toMatchObject({ code: 'UPSTREAM_FAILED', status: 502 });
  });
});
