import { SELF } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { addBlob, addManifest, imageManifest, uniqueName } from './registry-helpers.js';
import { freshResource, sseReader } from './services-fixtures.js';

// Every edge response tells browsers not to guess a type: blobs and manifests are bytes from an
// upstream, and the status page shares their origin.

async function sniffOption(path: string, init?: RequestInit): Promise<{ status: number; nosniff: string | null }> {
  const res = await SELF.fetch(`http://mirror${path}`, init);
  await res.arrayBuffer();
  return { status: res.status, nosniff: res.headers.get('X-Content-Type-Options') };
}

describe('X-Content-Type-Options: nosniff', () => {
  it('is on successes, errors, redirects and not-found answers alike', async () => {
    const name = uniqueName('nosniff');
    const { digest } = await addBlob({ text: `nosniff-${name}` });
    await addManifest(`library/${name}`, 'v1', imageManifest(name), 'application/vnd.oci.image.manifest.v1+json');
    const cases: [string, RequestInit | undefined, number][] = [
      ['/v2/', undefined, 200],
      [`/v2/library/${name}/blobs/${digest}`, undefined, 200],
      [`/v2/library/${name}/blobs/${digest}`, undefined, 200], // now from R2
      [`/v2/library/${name}/blobs/${digest}`, { method: 'HEAD' }, 200],
      [`/v2/library/${name}/manifests/v1`, undefined, 200],
      [`/v2/library/${name}/manifests/nope`, undefined, 404],
      ['/v2/library/x/blobs/not-a-digest', undefined, 400],
      [`/v2/library/${name}/blobs/uploads/`, { method: 'POST' }, 405],
      [`/v2/${'a'.repeat(5_000)}/manifests/v1`, undefined, 414],
      ['/', undefined, 200],
      ['/stats', undefined, 200],
      ['/metrics', undefined, 200],
      [`/services/${freshResource()}`, undefined, 404],
      ['/services/NOT_A_NAME', undefined, 400],
      ['/leases', undefined, 401],
      ['/no/such/route', undefined, 404],
    ];
    for (const [path, init, status] of cases) {
      expect({ path: path.slice(0, 60), ...(await sniffOption(path, init)) }).toEqual({ path: path.slice(0, 60), status, nosniff: 'nosniff' });
    }
  });

  it("is on a watch stream, whose response comes from the resource's object", async () => {
    const res = await SELF.fetch(`http://mirror/services/${freshResource('nosniff')}/watch`);
    expect(res.status).toBe(200);
    expect(res.headers.get('X-Content-Type-Options')).toBe('nosniff');
    const events = sseReader(res);
    try {
      expect((await events.next()).event).toBe('ready');
    } finally {
      await events.close();
    }
  });
});
