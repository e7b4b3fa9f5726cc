import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningEdge } from '../../scripts/edge-launcher.js';
import { startEdge } from '../../scripts/edge-launcher.js';
import { type CliResult, runFastreg } from '../helpers/cli.js';
import { LeaseClient, LeaseError, LeaseTimeoutError, LeaseVersionError } from '../../sidecar/lease/index.js';

// The typed /leases client (package export fastreg/lease-client) and `fastreg lease` against a locally
// started edge.

let edge: RunningEdge;
let stateDir: string;
const unique = (label: string) => `${label}-${crypto.randomUUID()}`;

beforeAll(async () => {
  stateDir = mkdtempSync(path.join(tmpdir(), 'fastreg-lease-client-'));
  edge = await startEdge({ stateDir, logs: false });
});

afterAll(async () => {
  await edge?.stop();
  if (stateDir) rmSync(stateDir, { recursive: true, force: true });
});

/** A client whose fetch counts the register requests it sends. */
function countingClient(options: { batchSize?: number; batchTimeoutMs?: number } = {}) {
  const bodies: { entries: unknown[] }[] = [];
  const client = new LeaseClient({
    edge: edge.url,
    token: edge.token,
    ...options,
    fetch: (input, init) => {
      if (String(input).endsWith('/leases/register')) bodies.push(JSON.parse(String(init?.body)) as { entries: unknown[] });
      return fetch(input, init);
    },
  });
  return { client, batches: () => bodies.map((b) => b.entries.length) };
}

describe('LeaseClient', () => {
  it('sends a batch as soon as it holds batchSize registrations', async () => {
    const { client, batches } = countingClient({ batchSize: 3, batchTimeoutMs: 60_000 });
    const started = Date.now();
    const acks = await Promise.all([1, 2, 3].map(() => client.register({ key: unique('size') })));
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(batches()).toEqual([3]);
    expect(acks[0]).toEqual({ stored: 3, evicted: 0, skipped: 0 });
  });

  it('sends a partial batch after batchTimeoutMs', async () => {
    const { client, batches } = countingClient({ batchSize: 100, batchTimeoutMs: 50 });
    const started = Date.now();
    await Promise.all([client.register({ key: unique('timer') }), client.register({ key: unique('timer') })]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(45);
    expect(batches()).toEqual([2]);
  });

  it('flush() sends what is queued and waits for the acknowledgements', async () => {
    const { client, batches } = countingClient({ batchSize: 2, batchTimeoutMs: 60_000 });
    const keys = Array.from({ length: 5 }, () => unique('flush'));
    const acks = keys.map((key) => client.register({ key, value: `v-${key}` }));
    await client.flush();
    expect(batches()).toEqual([2, 2, 1]);
    expect((await Promise.all(acks)).every((ack) => ack.stored > 0)).toBe(true);
    expect(await client.matchPrefix(keys)).toEqual({ version: 1, count: 5, lastKey: keys[4], lastValue: `v-${keys[4]}` });
  });

  it('keeps a chain whole across batches (batches go out in order)', async () => {
    const { client, batches } = countingClient({ batchSize: 2, batchTimeoutMs: 1 });
    const chain = Array.from({ length: 7 }, () => unique('chain'));
    const acks = await client.registerChain(chain);
    expect(batches().length).toBe(4);
    expect(acks.every((ack) => ack.skipped === 0)).toBe(true);
    expect((await client.matchPrefix([...chain, unique('absent')])).count).toBe(7);
    await client.close();
    await expect(client.register({ key: unique('late') })).rejects.toMatchObject({ code: 'CLOSED' });
  });

  it('answers can-offload per key and stats', async () => {
    const client = new LeaseClient({ edge: edge.url, token: edge.token });
    const [fresh, stored] = [unique('fresh'), unique('stored')];
    await client.register({ key: stored, size: 42 });
    await client.flush();
    const answers = await client.canOffload([fresh, stored], 'worker-a');
    expect(answers.map((a) => [a.key, a.kind])).toEqual([
      [fresh, 'Granted'],
      [stored, 'AlreadyStored'],
    ]);
    expect((await client.canOffload([fresh], 'worker-b'))[0]?.kind).toBe('Leased');
    const stats = await client.stats();
    expect(stats.shards).toBe(16);
    expect(stats.stored).toBeGreaterThan(0);
  });

  it('gives up after the request timeout with LeaseTimeoutError', async () => {
    const sockets: Socket[] = [];
    const silent: Server = createServer((socket) => sockets.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const port = (silent.address() as { port: number }).port;
    try {
      const client = new LeaseClient({ edge: `http://127.0.0.1:${port}`, token: 'x'.repeat(20), timeoutMs: 300 });
      const started = Date.now();
      const error = await client.stats().catch((err: unknown) => err);
      expect(error).toBeInstanceOf(LeaseTimeoutError);
      expect((error as LeaseError).code).toBe('TIMEOUT');
      expect(Date.now() - started).toBeLessThan(3_000);
    } finally {
      for (const socket of sockets) socket.destroy();
      silent.close();
    }
  });

  it('reports a protocol version mismatch as LeaseVersionError and a bad token as UNAUTHORIZED', async () => {
    // Rewrite the version on the way out: the real edge answers for a client from the future.
    const future = new LeaseClient({
      edge: edge.url,
      token: edge.token,
      fetch: (input, init) => fetch(input, { ...init, body: String(init?.body).replace('"version":1', '"version":2') }),
    });
    const error = await future.matchPrefix(['a']).catch((err: unknown) => err);
    expect(error).toBeInstanceOf(LeaseVersionError);
    expect(error).toMatchObject({ supported: [1], status: 400, protocolVersion: 1 });

    const stranger = new LeaseClient({ edge: edge.url, token: 'wrong-token-0123456789' });
    await expect(stranger.stats()).rejects.toMatchObject({ name: 'LeaseError', code: 'UNAUTHORIZED', status: 401 });
  });
});

/** `null` runs the CLI with no token at all. */
function cli(args: string[], token: string | null = edge.token): Promise<CliResult> {
  return runFastreg(['lease', ...args], { edge: edge.url, token });
}

describe('fastreg lease (CLI)', () => {
  it('has real help', async () => {
    const help = await cli(['--help']);
    expect(help.code).toBe(0);
    for (const word of ['can-offload', 'register', 'match-prefix', 'stats', 'FASTREG_EDGE', 'FASTREG_TOKEN', '--timeout', 'fastreg/lease-client']) expect(help.stdout).toContain(word);
    expect((await cli(['register', '--help'])).stdout).toMatch(/--chain[\s\S]*--batch-size[\s\S]*--batch-timeout/);
  });

  it('registers a chain, matches its prefix, answers can-offload and stats', async () => {
    const [a, b, c, d] = ['a', 'b', 'c', 'd'].map(unique) as [string, string, string, string];
    const registered = await cli(['register', a, b, c, '--chain', '--batch-size', '2', '--json']);
    expect(registered.stderr).toBe('');
    expect(JSON.parse(registered.stdout)).toEqual({ entries: 3, batches: 2, stored: 3, evicted: 0, skipped: 0 });

    const match = await cli(['match-prefix', a, b, c, d, '--json']);
    expect(JSON.parse(match.stdout)).toMatchObject({ count: 3, lastKey: c });
    expect((await cli(['match-prefix', a, b, c, d])).stdout.trim()).toBe(`3 of 4 (last: ${c})`);

    const offload = await cli(['can-offload', a, d, '--holder', 'cli-test']);
    expect(offload.code).toBe(0);
    expect(offload.stdout).toMatch(new RegExp(`${a}\\s+│ AlreadyStored`));
    expect(offload.stdout).toMatch(new RegExp(`${d}\\s+│ Granted`));

    const stats = JSON.parse((await cli(['stats', '--json'])).stdout) as { shards: number; stored: number };
    expect(stats.shards).toBe(16);
    expect(stats.stored).toBeGreaterThanOrEqual(3);
  });

  it('fails with one clear line and a non-zero exit', async () => {
    const noToken = await cli(['stats'], null);
    expect(noToken.code).toBe(2);
    expect(noToken.stderr.trim()).toBe('fastreg: the lease API needs a token: set FASTREG_TOKEN or pass --token');
    const wrong = await cli(['stats'], 'wrong-token-0123456789');
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/^fastreg: 401 UNAUTHORIZED/);
  });
});
