import { SELF } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';

describe('GET /v2/', () => {
  it('answers 200 with the API version header', async () => {
    const res = await SELF.fetch('http://mirror/v2/');
    expect(res.status).toBe(200);
    expect(res.headers.get('Docker-Distribution-API-Version')).toBe('registry/2.0');
  });

  it('rejects push with UNSUPPORTED and an OCI body', async () => {
    const res = await SELF.fetch('http://mirror/v2/library/alpine/blobs/uploads/', { method: 'POST' });
    expect(res.status).toBe(405);
    const body = (await res.json()) as { errors: { code: string }[] };
    expect(body.errors[0]?.code).toBe('UNSUPPORTED');
  });
});
