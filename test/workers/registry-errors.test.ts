import { SELF } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { parseRegistryPath } from '../../workers/shared/oci/index.js';
import { addManifest, fetchWithEnv, imageManifest, uniqueName, type OciErrorJson } from './registry-helpers.js';

const okDigest = `sha256:${'ab'.repeat(32)}`;

describe('malformed requests get a 4xx with an OCI error body', () => {
  it.each([
    ['bad digest hex', `/v2/library/alpine/blobs/sha256:xyz`, 400, 'DIGEST_INVALID'],
    ['short digest', `/v2/library/alpine/blobs/sha256:${'a'.repeat(63)}`, 400, 'DIGEST_INVALID'],
    ['uppercase digest hex', `/v2/library/alpine/blobs/sha256:${'A'.repeat(64)}`, 400, 'DIGEST_INVALID'],
    ['unsupported digest algorithm', `/v2/library/alpine/blobs/md5:${'a'.repeat(32)}`, 400, 'DIGEST_INVALID'],
    ['bad manifest digest', `/v2/library/alpine/manifests/sha256:zz`, 400, 'DIGEST_INVALID'],
    ['uppercase name', `/v2/Library/Alpine/manifests/latest`, 400, 'NAME_INVALID'],
    ['.. inside a segment', `/v2/library/a..b/manifests/latest`, 400, 'NAME_INVALID'],
    ['percent-encoded name', `/v2/library/%41lpine/manifests/latest`, 400, 'NAME_INVALID'],
    ['empty name segment', `/v2/library//alpine/blobs/${okDigest}`, 400, 'NAME_INVALID'],
    ['bad manifest digest (conformance: sha256:totallywrong)', `/v2/library/alpine/manifests/sha256:totallywrong`, 400, 'DIGEST_INVALID'],
    ['reference neither tag nor digest (conformance: .INVALID_MANIFEST_NAME)', `/v2/library/alpine/manifests/.INVALID_MANIFEST_NAME`, 404, 'MANIFEST_UNKNOWN'],
    ['bad tag', `/v2/library/alpine/manifests/-latest`, 404, 'MANIFEST_UNKNOWN'],
    ['tag with a colon but no digest shape', `/v2/library/alpine/manifests/a:b:c`, 404, 'MANIFEST_UNKNOWN'],
    ['overlong tag', `/v2/library/alpine/manifests/${'t'.repeat(200)}`, 404, 'MANIFEST_UNKNOWN'],
    ['unknown section', `/v2/library/alpine/things/x`, 404, 'NOT_FOUND'],
    ['bad tags list n', `/v2/library/alpine/tags/list?n=lots`, 400, 'INVALID_REQUEST'],
    ['unknown ns', `/v2/library/alpine/manifests/latest?ns=nowhere.example`, 404, 'NAME_UNKNOWN'],
    ['push', `/v2/library/alpine/blobs/uploads/`, 405, 'UNSUPPORTED'],
  ])('%s', async (_label, path, status, code) => {
    const method = code === 'UNSUPPORTED' ? 'POST' : 'GET';
    const res = await SELF.fetch(`http://mirror${path}`, { method });
    expect(res.status).toBe(status);
    expect(res.headers.get('Content-Type')).toMatch(/^application\/json/);
    const body = (await res.json()) as OciErrorJson;
    expect(body.errors[0]?.code).toBe(code);
    expect(typeof body.errors[0]?.message).toBe('string');

    if (method === 'GET') {
      const head = await SELF.fetch(`http://mirror${path}`, { method: 'HEAD' });
      expect(head.status).toBe(status);
      expect((await head.arrayBuffer()).byteLength).toBe(0);
    }
  });

  it('rejects a .. path segment (URL parsers normalise it away before a request arrives)', () => {
    expect(() => parseRegistryPath('/v2/library/../alpine/manifests/latest')).toThrow(expect.objectContaining({ code: 'NAME_INVALID' }));
  });

  it('rejects delete with UNSUPPORTED', async () => {
    const res = await SELF.fetch(`http://mirror/v2/library/alpine/manifests/${okDigest}`, { method: 'DELETE' });
    expect(res.status).toBe(405);
    expect(((await res.json()) as OciErrorJson).errors[0]?.code).toBe('UNSUPPORTED');
  });

  it('rejects an oversized URL with 414', async () => {
    const res = await SELF.fetch(`http://mirror/v2/${'a/'.repeat(2100)}x/manifests/latest`);
    expect(res.status).toBe(414);
    expect(((await res.json()) as OciErrorJson).errors[0]?.code).toBe('INVALID_REQUEST');
  });

  it('rejects huge headers with 431', async () => {
    const res = await SELF.fetch(`http://mirror/v2/library/alpine/manifests/latest`, { headers: { 'X-Filler': 'x'.repeat(20_000) } });
    expect(res.status).toBe(431);
    expect(((await res.json()) as OciErrorJson).errors[0]?.code).toBe('HEADERS_TOO_LARGE');
  });
});

describe('base and tag list routes', () => {
  it('GET /v2/ answers 200 with the API version', async () => {
    const res = await SELF.fetch('http://mirror/v2/');
    expect(res.status).toBe(200);
    expect(res.headers.get('Docker-Distribution-API-Version')).toBe('registry/2.0');
    expect(await res.json()).toEqual({});
  });

  it('passes the tag list through, with n and last', async () => {
    const name = uniqueName();
    for (const tag of ['a', 'b', 'c']) await addManifest(`library/${name}`, tag, imageManifest(`${name}-${tag}`), 'application/vnd.oci.image.manifest.v1+json');
    const res = await SELF.fetch(`http://mirror/v2/${name}/tags/list?n=2&last=a`);
    expect(res.status).toBe(200);
    expect(res.headers.get('Content-Type')).toMatch(/^application\/json/);
    const body = (await res.json()) as { name: string; tags: string[] };
    expect(body.name).toBe(`library/${name}`);
    expect(body.tags.sort()).toEqual(['a', 'b', 'c']); // the fake ignores pagination; the mirror forwards it

    const missing = await SELF.fetch(`http://mirror/v2/${uniqueName()}/tags/list`);
    expect(missing.status).toBe(404);
    expect(((await missing.json()) as OciErrorJson).errors[0]?.code).toBe('NAME_UNKNOWN');
  });

  it('requires the bearer token for pulls when PULL_ACCESS=token', async () => {
    const denied = await fetchWithEnv('http://mirror/v2/', { PULL_ACCESS: 'token' });
    expect(denied.status).toBe(401);
    expect(denied.headers.get('WWW-Authenticate')).toMatch(/^Bearer /);
    const allowed = await fetchWithEnv('http://mirror/v2/', { PULL_ACCESS: 'token' }, { headers: { Authorization: 'Bearer test-token-0123456789abcdef' } });
    expect(allowed.status).toBe(200);
  });
});
