import { env, runDurableObjectAlarm, runInDurableObject, SELF } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import type { ServiceEvent, ServiceRecord } from '../../workers/shared/services/records.js';
import { ADMIN, call, freshResource, sseReader } from './services-fixtures.js';

function expireNow(resource: string, id: string) {
  return runInDurableObject(env.SERVICE_REGISTRY.getByName(resource), (_instance, state) => {
    state.storage.sql.exec('UPDATE records SET expires_at = ? WHERE id = ?', Date.now() - 1, id);
  });
}

describe('service records: expiry and heartbeats', () => {
  it('an expired record disappears at once, the alarm collects it, and a second alarm run is harmless', async () => {
    const resource = freshResource('exp');
    expect((await call('PUT', `/services/${resource}/records/old`, { token: ADMIN, body: { name: 'old', ttlSeconds: 60 } })).status).toBe(201);
    expect((await call('PUT', `/services/${resource}/records/young`, { token: ADMIN, body: { name: 'young', ttlSeconds: 600 } })).status).toBe(201);
    const stub = env.SERVICE_REGISTRY.getByName(resource);
    const alarmBefore = await runInDurableObject(stub, (_i, state) => state.storage.getAlarm());
    expect(alarmBefore).not.toBeNull();

    await expireNow(resource, 'old');
    expect((await call('GET', `/services/${resource}/records/old`)).status).toBe(404);
    const listed = (await (await call('GET', `/services/${resource}/records`)).json()) as { records: ServiceRecord[] };
    expect(listed.records.map((r) => r.id)).toEqual(['young']);

    expect(await runDurableObjectAlarm(stub)).toBe(true);
    const after = await runInDurableObject(stub, async (instance, state) => {
      const ids = state.storage.sql.exec<{ id: string }>('SELECT id FROM records').toArray().map((r) => r.id);
      // An alarm may fire again: running the handler twice more changes nothing.
      await instance.alarm();
      await instance.alarm();
      const again = state.storage.sql.exec<{ id: string }>('SELECT id FROM records').toArray().map((r) => r.id);
      return { ids, again, alarm: await state.storage.getAlarm() };
    });
    expect(after.ids).toEqual(['young']);
    expect(after.again).toEqual(['young']);
    // Re-armed for the remaining record's expiry, about ten minutes away.
    expect(after.alarm).toBeGreaterThan(Date.now() + 500_000);
  });

  it('a heartbeat extends the expiry by the TTL', async () => {
    const resource = freshResource('exp');
    const first = (await (await call('PUT', `/services/${resource}/records/hb`, { token: ADMIN, body: { name: 'hb', ttlSeconds: 5 } })).json()) as ServiceRecord;
    await new Promise((resolve) => setTimeout(resolve, 20));
    const beat = await call('POST', `/services/${resource}/records/hb/heartbeat`, { token: ADMIN });
    expect(beat.status).toBe(200);
    const renewed = (await beat.json()) as ServiceRecord;
    expect(Date.parse(renewed.expiresAt)).toBeGreaterThan(Date.parse(first.expiresAt));
    expect(Date.parse(renewed.expiresAt) - Date.now()).toBeGreaterThan(4_000);
    await expireNow(resource, 'hb');
    expect((await call('POST', `/services/${resource}/records/hb/heartbeat`, { token: ADMIN })).status).toBe(404);
  });
});

describe('service records: watch', () => {
  it('a watcher sees add, update, delete and expire events in order', async () => {
    const resource = freshResource('watch');
    const res = await SELF.fetch(`http://edge/services/${resource}/watch`);
    expect(res.status).toBe(200);
    expect(res.headers.get('Content-Type')).toMatch(/^text\/event-stream/);
    const events = sseReader(res);
    try {
      expect((await events.next()).event).toBe('ready');
      await call('PUT', `/services/${resource}/records/w1`, { token: ADMIN, body: { name: 'w1' } });
      await call('PUT', `/services/${resource}/records/w1`, { token: ADMIN, body: { name: 'w1', version: '2' } });
      await call('PUT', `/services/${resource}/records/w2`, { token: ADMIN, body: { name: 'w2' } });
      await call('DELETE', `/services/${resource}/records/w1`, { token: ADMIN });
      await expireNow(resource, 'w2');
      expect(await runDurableObjectAlarm(env.SERVICE_REGISTRY.getByName(resource))).toBe(true);

      const seen: [string, string, string | undefined][] = [];
      for (let i = 0; i < 5; i++) {
        const { event, data } = await events.next();
        const payload = data as ServiceEvent;
        seen.push([event, payload.id, payload.record.version]);
        expect(payload.type).toBe(event);
        expect(payload.resource).toBe(resource);
      }
      expect(seen).toEqual([
        ['add', 'w1', undefined],
        ['update', 'w1', '2'],
        ['add', 'w2', undefined],
        ['delete', 'w1', '2'],
        ['expire', 'w2', undefined],
      ]);
    } finally {
      await events.close();
    }
  });

  it('a watcher that disconnects is dropped', async () => {
    const resource = freshResource('watch');
    const stub = env.SERVICE_REGISTRY.getByName(resource);
    const res = await SELF.fetch(`http://edge/services/${resource}/watch`);
    const events = sseReader(res);
    expect((await events.next()).event).toBe('ready');
    expect(await stub.watcherCount()).toBe(1);
    await events.close();
    // The drop is noticed on the next write to the stream.
    let count = 1;
    for (let i = 0; i < 20 && count > 0; i++) {
      await call('PUT', `/services/${resource}/records/x${i}`, { token: ADMIN, body: { name: 'x' } });
      await new Promise((resolve) => setTimeout(resolve, 25));
      count = await stub.watcherCount();
    }
    expect(count).toBe(0);
  });
});
