import { describe, expect, it } from 'vitest';
import type { ServiceRecord } from '../../workers/shared/services/records.js';
import { ADMIN, ALICE, BOB, call, errorCode, freshResource } from './services-fixtures.js';

async function expectUnauthorized(res: Response) {
  expect(res.status).toBe(401);
  expect(res.headers.get('WWW-Authenticate')).toMatch(/^Bearer realm=/);
  expect(await errorCode(res)).toBe('UNAUTHORIZED');
}

describe('service records: auth', () => {
  it('writes without a token or with a wrong token are 401 and change nothing', async () => {
    const resource = freshResource('auth');
    await expectUnauthorized(await call('PUT', `/services/${resource}/records/a`, { body: { name: 'a' } }));
    await expectUnauthorized(await call('PUT', `/services/${resource}/records/a`, { body: { name: 'a' }, token: 'not-a-real-token-000000' }));
    await expectUnauthorized(await call('PUT', `/services/${resource}`, { body: {} }));
    expect((await call('GET', `/services/${resource}/records/a`)).status).toBe(404);

    expect((await call('PUT', `/services/${resource}/records/a`, { body: { name: 'a' }, token: ALICE })).status).toBe(201);
    await expectUnauthorized(await call('DELETE', `/services/${resource}/records/a`));
    await expectUnauthorized(await call('POST', `/services/${resource}/records/a/heartbeat`, { token: 'wrong-token-000000000' }));
    expect((await call('GET', `/services/${resource}/records/a`)).status).toBe(200);
  });

  it('the owner is the identity of the creating token; another owner gets 403, the owner and the admin may change it', async () => {
    const resource = freshResource('auth');
    const created = await call('PUT', `/services/${resource}/records/svc`, { body: { name: 'svc' }, token: ALICE });
    expect(((await created.json()) as ServiceRecord).owner).toBe('alice');

    for (const res of [
      await call('PUT', `/services/${resource}/records/svc`, { body: { name: 'hijack' }, token: BOB }),
      await call('POST', `/services/${resource}/records/svc/heartbeat`, { token: BOB }),
      await call('DELETE', `/services/${resource}/records/svc`, { token: BOB }),
      await call('PUT', `/services/${resource}`, { body: { description: 'mine now' }, token: BOB }),
    ]) {
      expect(res.status).toBe(403);
      expect(await errorCode(res)).toBe('DENIED');
    }
    expect(((await (await call('GET', `/services/${resource}/records/svc`)).json()) as ServiceRecord).name).toBe('svc');

    const byOwner = await call('PUT', `/services/${resource}/records/svc`, { body: { name: 'svc2' }, token: ALICE });
    expect(byOwner.status).toBe(200);
    const byAdmin = await call('PUT', `/services/${resource}/records/svc`, { body: { name: 'svc3' }, token: ADMIN });
    expect(byAdmin.status).toBe(200);
    // The admin edits but does not take ownership.
    expect(((await byAdmin.json()) as ServiceRecord).owner).toBe('alice');
    expect((await call('POST', `/services/${resource}/records/svc/heartbeat`, { token: ALICE })).status).toBe(200);
    expect((await call('DELETE', `/services/${resource}/records/svc`, { token: ADMIN })).status).toBe(200);
  });

  it('reads are public by default, and need a valid token when SERVICES_READ_ACCESS=token', async () => {
    const resource = freshResource('auth');
    expect((await call('PUT', `/services/${resource}/records/r`, { body: { name: 'r' }, token: ADMIN })).status).toBe(201);
    expect((await call('GET', `/services/${resource}/records/r`)).status).toBe(200);
    expect((await call('GET', `/services/${resource}/search?q=r`)).status).toBe(200);

    const tokenOnly = { SERVICES_READ_ACCESS: 'token' };
    for (const path of [`/services/${resource}/records/r`, `/services/${resource}/records`, `/services/${resource}/search?q=r`, `/services/${resource}`, '/services', `/services/${resource}/watch`]) {
      await expectUnauthorized(await call('GET', path, { env: tokenOnly }));
      await expectUnauthorized(await call('GET', path, { env: tokenOnly, token: 'wrong-token-000000000' }));
    }
    expect((await call('GET', `/services/${resource}/records/r`, { env: tokenOnly, token: BOB })).status).toBe(200);
    expect((await call('GET', `/services/${resource}/records/r`, { env: tokenOnly, token: ADMIN })).status).toBe(200);
  });

  it('a bad OWNER_TOKENS secret fails with a clear config message, not a crash', async () => {
    const res = await call('GET', '/services', { env: { OWNER_TOKENS: '{"Bad Owner":"short"}' } });
    expect(res.status).toBe(500);
    const body = (await res.json()) as { errors: { message: string }[] };
    expect(body.errors[0]!.message).toMatch(/OWNER_TOKENS/);
  });
});
