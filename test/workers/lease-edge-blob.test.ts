import { env, SELF } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { addBlob, addFault, blobKeyOf, sha256, uniqueName, upstreamLog, waitForObject } from './registry-helpers.js';

// The edge blob path under the blob lease: concurrent cold requests make one upstream fetch.

const TTL_MS = 2_000; // LEASE_TTL_MS in vitest.config.ts
const UPSTREAM_TIMEOUT_MS = 3_000; // UPSTREAM_TIMEOUT_MS in vitest.config.ts

type Outcome = { status: number; digest?: string; code?: string; ms: number };

/** GETs `url` and hashes the body; bounded so a hang fails the test instead of stalling it. */
async function pull(url: string, limitMs = 20_000): Promise<Outcome> {
  const started = Date.now();
  const signal = AbortSignal.timeout(limitMs);
  const res = await SELF.fetch(url, { signal });
  if (res.status !== 200) {
    const body = (await res.json()) as { errors?: { code: string }[] };
    return { status: res.status, code: body.errors?.[0]?.code, ms: Date.now() - started };
  }
  return { status: 200, digest: await sha256(await res.arrayBuffer()), ms: Date.now() - started };
}

describe('edge blob path with the lease', () => {
  it('50 concurrent cold GETs of one blob make exactly 1 upstream GET, and all get the right bytes', async () => {
    const name = uniqueName('burst');
    const { digest } = await addBlob({ size: 2 * 1024 * 1024 + 17 });
    const url = `http://mirror/v2/library/${name}/blobs/${digest}`;
    const outcomes = await Promise.all(Array.from({ length: 50 }, () => pull(url)));
    expect(outcomes.map((o) => o.status)).toEqual(Array(50).fill(200));
    expect(outcomes.every((o) => o.digest === digest)).toBe(true);
    expect(await upstreamLog(digest, 'GET')).toHaveLength(1);
    await expect.poll(() => env.BLOB_LEASE.getByName(digest).stats(), { timeout: 5_000 }).toMatchObject({ state: 'stored', granted: 1, completed: 1 });
  });

  it('holder dies mid-fetch (upstream stalls, its client goes away): a waiter takes over and everyone gets the blob', async () => {
    const name = uniqueName('stall');
    const { digest } = await addBlob({ size: 512 * 1024 });
    await addFault(`GET /v2/library/${name}/blobs/`, { kind: 'stall' }, 1);
    const url = `http://mirror/v2/library/${name}/blobs/${digest}`;

    // The holder gets headers and the first bytes, then the upstream stalls.
    const holderAbort = new AbortController();
    const holder = await SELF.fetch(url, { signal: holderAbort.signal });
    expect(holder.status).toBe(200);
    expect((await env.BLOB_LEASE.getByName(digest).stats()).holders).toBe(1);

    const started = Date.now();
    const followers = Array.from({ length: 5 }, () => pull(url));
    holderAbort.abort();
    await holder.body?.cancel().catch(() => undefined);

    const outcomes = await Promise.all(followers);
    expect(outcomes.map((o) => o.status)).toEqual(Array(5).fill(200));
    expect(outcomes.every((o) => o.digest === digest)).toBe(true);
    // Taken over when the lease ran out (no progress) or the stalled fetch timed out, whichever came first.
    expect(Date.now() - started).toBeLessThan(Math.max(TTL_MS, UPSTREAM_TIMEOUT_MS) + 4_000);
    expect(await upstreamLog(digest, 'GET')).toHaveLength(2);
    expect(await waitForObject(blobKeyOf(digest))).toBe(true);
  });

  it('a transient upstream error during the fetch: waiters take over, nobody hangs', async () => {
    const name = uniqueName('err500');
    const { digest } = await addBlob({ size: 256 * 1024 });
    await addFault(`GET /v2/library/${name}/blobs/`, { kind: 'status', status: 500 }, 1);
    const url = `http://mirror/v2/library/${name}/blobs/${digest}`;
    const outcomes = await Promise.all(Array.from({ length: 10 }, () => pull(url)));
    for (const outcome of outcomes) {
      if (outcome.status === 200) expect(outcome.digest).toBe(digest);
      else expect(outcome.status).toBeGreaterThanOrEqual(500);
    }
    expect(outcomes.filter((o) => o.status === 200).length).toBeGreaterThanOrEqual(9);
    expect((await upstreamLog(digest, 'GET')).length).toBeLessThanOrEqual(3);
  });

  it('a truncated upstream body fails the holder, a waiter takes over and stores the right bytes', async () => {
    const name = uniqueName('trunc');
    const { digest } = await addBlob({ size: 400 * 1024 });
    await addFault(`GET /v2/library/${name}/blobs/`, { kind: 'truncate', afterBytes: 100 * 1024 }, 1);
    const url = `http://mirror/v2/library/${name}/blobs/${digest}`;
    const outcomes = await Promise.allSettled(Array.from({ length: 6 }, () => pull(url)));
    // The holder's client sees its stream fail; everyone else gets the verified blob.
    const ok = outcomes.filter((o) => o.status === 'fulfilled' && o.value.status === 200 && o.value.digest === digest);
    expect(ok.length).toBeGreaterThanOrEqual(5);
    expect(await waitForObject(blobKeyOf(digest))).toBe(true);
    expect((await upstreamLog(digest, 'GET')).length).toBeLessThanOrEqual(3);
  });

  it('a blob the upstream does not have: every concurrent client gets BLOB_UNKNOWN quickly, waiters share the answer', async () => {
    const name = uniqueName('missing');
    const digest = `sha256:${'e'.repeat(63)}${Math.floor(Math.random() * 10)}`;
    const url = `http://mirror/v2/library/${name}/blobs/${digest}`;
    const outcomes = await Promise.all(Array.from({ length: 10 }, () => pull(url)));
    expect(outcomes.map((o) => [o.status, o.code])).toEqual(Array(10).fill([404, 'BLOB_UNKNOWN']));
    expect(outcomes.every((o) => o.ms < 5_000)).toBe(true);
    // Waiters get the holder's 404 instead of re-asking; only requests arriving after it was answered ask again.
    const gets = (await upstreamLog(`${name}/blobs/${digest}`, 'GET')).length;
    console.log(`upstream GETs for 10 concurrent misses of an unknown blob: ${gets}`);
    expect(gets).toBeGreaterThanOrEqual(1);
    expect(gets).toBeLessThanOrEqual(5);
  });
});

describe('failures are scoped to the repository that caused them', () => {
  it('a bad repository hammered in a loop cannot make good pulls of the same cold digest fail', async () => {
    const bad = uniqueName('bad');
    const good = uniqueName('good');
    const { digest } = await addBlob({ size: 300 * 1024 });
    // The upstream does not have the digest in the bad repository (404, every time).
    await addFault(`GET /v2/library/${bad}/blobs/`, { kind: 'status', status: 404, body: JSON.stringify({ errors: [{ code: 'BLOB_UNKNOWN', message: 'blob unknown to this repository' }] }) });
    const badUrl = `http://mirror/v2/library/${bad}/blobs/${digest}`;
    let stop = false;
    const hammer = async () => {
      const outcomes: Outcome[] = [];
      for (let i = 0; i < 200 && !stop; i++) outcomes.push(await pull(badUrl));
      return outcomes;
    };
    const hammers = Array.from({ length: 6 }, hammer);
    await new Promise((resolve) => setTimeout(resolve, 50));
    const goods = await Promise.all(Array.from({ length: 8 }, (_, i) => new Promise((resolve) => setTimeout(resolve, i * 20)).then(() => pull(`http://mirror/v2/library/${good}/blobs/${digest}`))));
    stop = true;
    const badOutcomes = (await Promise.all(hammers)).flat();
    expect(goods.map((o) => [o.status, o.digest])).toEqual(Array(8).fill([200, digest]));
    expect(badOutcomes.length).toBeGreaterThan(0);
    // Before the good pull stored it the bad repository gets the upstream's 404; after, the stored blob
    // (blobs are content-addressed and shared). Never a 5xx, never wrong bytes.
    const badAnswers = new Set(badOutcomes.map((o) => (o.status === 200 ? `200 ${o.digest === digest}` : `${o.status} ${o.code}`)));
    expect([...badAnswers].every((answer) => answer === '404 BLOB_UNKNOWN' || answer === '200 true')).toBe(true);
    expect(badAnswers.has('404 BLOB_UNKNOWN')).toBe(true);
  });
});
