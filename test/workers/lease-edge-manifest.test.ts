import { SELF } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { addManifest, errorCode, fetchWithEnv, imageManifest, sha256, uniqueName, upstreamLog } from './registry-helpers.js';

// Manifest fetches under a lease keyed manifest:<registry>/<name>@<ref>. In-isolate coalescing is
// keyed by the Accept header too, so requests with different Accept headers stand in for requests
// landing in different isolates: only the lease can make them share one upstream GET.

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const accepts = (n: number) => Array.from({ length: n }, (_, i) => `${OCI_MANIFEST}, application/x-fastreg-variant-${i}`);

describe('manifest fetches under the lease', () => {
  it('concurrent requests for one tag that in-isolate coalescing cannot merge make one upstream GET', async () => {
    const name = uniqueName('mherd');
    const digest = await addManifest(`library/${name}`, 'v1', imageManifest(name), OCI_MANIFEST);
    const url = `http://mirror/v2/library/${name}/manifests/v1`;
    const responses = await Promise.all(accepts(12).map((accept) => SELF.fetch(url, { headers: { Accept: accept } })));
    for (const res of responses) {
      expect(res.status).toBe(200);
      expect(res.headers.get('Docker-Content-Digest')).toBe(digest);
      expect(await sha256(await res.arrayBuffer())).toBe(digest);
    }
    expect(await upstreamLog(`/v2/library/${name}/manifests/v1`, 'GET')).toHaveLength(1);
  });

  it('the same by digest', async () => {
    const name = uniqueName('mdigest');
    const digest = await addManifest(`library/${name}`, undefined, imageManifest(name), OCI_MANIFEST);
    const url = `http://mirror/v2/library/${name}/manifests/${digest}`;
    const responses = await Promise.all(accepts(12).map((accept) => SELF.fetch(url, { headers: { Accept: accept } })));
    for (const res of responses) expect(await sha256(await res.arrayBuffer())).toBe(digest);
    expect(await upstreamLog(`/v2/library/${name}/manifests/${digest}`, 'GET')).toHaveLength(1);
  });

  it('a tag that moved is fetched once by concurrent revalidations', async () => {
    const name = uniqueName('mmoved');
    const url = `http://mirror/v2/library/${name}/manifests/moving`;
    const noTtl = { MANIFEST_TAG_TTL_SECONDS: '0' };
    await addManifest(`library/${name}`, 'moving', imageManifest(`${name}-1`), OCI_MANIFEST);
    expect((await fetchWithEnv(url, noTtl)).status).toBe(200);
    const second = await addManifest(`library/${name}`, 'moving', imageManifest(`${name}-2`), OCI_MANIFEST);
    const responses = await Promise.all(accepts(8).map((accept) => fetchWithEnv(url, noTtl, { headers: { Accept: accept } })));
    for (const res of responses) expect(res.headers.get('Docker-Content-Digest')).toBe(second);
    const gets = await upstreamLog(`/v2/library/${name}/manifests/moving`, 'GET');
    expect(gets).toHaveLength(2); // the first pull, then one GET for the moved tag
  });

  it('an unknown tag: every concurrent client gets MANIFEST_UNKNOWN, nobody hangs', async () => {
    const name = uniqueName('mmissing');
    await addManifest(`library/${name}`, 'other', imageManifest(name), OCI_MANIFEST);
    const url = `http://mirror/v2/library/${name}/manifests/nope`;
    const started = Date.now();
    const responses = await Promise.all(accepts(8).map((accept) => SELF.fetch(url, { headers: { Accept: accept } })));
    for (const res of responses) {
      expect(res.status).toBe(404);
      expect(await errorCode(res)).toBe('MANIFEST_UNKNOWN');
    }
    expect(Date.now() - started).toBeLessThan(5_000);
  });
});
