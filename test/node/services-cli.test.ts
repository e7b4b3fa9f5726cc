import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningEdge } from '../../scripts/edge-launcher.js';
import { REPO_ROOT, startEdge } from '../../scripts/edge-launcher.js';
import { type CliResult, cliEnv, FASTREG_BIN, runFastreg } from '../helpers/cli.js';
import type { ServiceEvent, ServiceRecord } from '../../sidecar/edge/services-client.js';

// `fastreg services …` as a real subprocess against a locally started edge (Miniflare).

const ALICE = 'alice-cli-token-0123456789';
const BOB = 'bob-cli-token-0123456789ab';

let edge: RunningEdge;
let stateDir: string;

beforeAll(async () => {
  stateDir = mkdtempSync(path.join(tmpdir(), 'fastreg-services-cli-'));
  edge = await startEdge({ stateDir, logs: false, vars: { OWNER_TOKENS: JSON.stringify({ alice: ALICE, bob: BOB }) } });
});

afterAll(async () => {
  await edge?.stop();
  if (stateDir) rmSync(stateDir, { recursive: true, force: true });
});

function cli(args: string[], token: string | null = edge.token, timeoutMs = 30_000): Promise<CliResult> {
  return runFastreg(['services', ...args], { edge: edge.url, token, timeoutMs });
}

/** A loopback port that nothing listens on (fetch refuses well-known ports like 1 outright). */
function closedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

async function ok(args: string[], token?: string): Promise<string> {
  const result = await cli(args, token);
  expect(result.stderr, `stderr of ${args.join(' ')}`).toBe('');
  expect(result.code).toBe(0);
  return result.stdout;
}

describe('fastreg services (CLI against a local edge)', () => {
  it('has real help for the group and each command', async () => {
    const group = await ok(['--help']);
    for (const word of ['add', 'get', 'list', 'delete', 'search', 'watch', '--edge', 'FASTREG_EDGE', 'FASTREG_TOKEN', 'Examples:']) expect(group).toContain(word);
    const add = await ok(['add', '--help']);
    for (const word of ['--file', '--endpoint', '--tag', '--ttl', '--info', 'Examples:']) expect(add).toContain(word);
    expect(await ok(['watch', '--help'])).toContain('--count');
  });

  it('adds from flags and from a file, then gets, lists, searches and deletes', async () => {
    const table = await ok(['add', 'lab', 'builder-1', '--endpoint', 'http://127.0.0.2:5050', '--tag', 'ci', '--tag', 'amd64', '--category', 'sidecar', '--info', 'cpu=8', '--info', 'zone=a', '--ttl', '120']);
    expect(table).toMatch(/builder-1/);
    expect(table).toMatch(/http:\/\/127\.0\.0\.2:5050/);

    const file = path.join(stateDir, 'record.json');
    writeFileSync(file, JSON.stringify({ name: 'cache', description: 'blob cache for builders', tags: ['amd64'], info: { memoryMb: 4096 } }));
    const fromFile = JSON.parse(await ok(['--json', 'add', 'lab', 'cache-1', '--file', file, '--service-version', '2.0'])) as ServiceRecord;
    expect(fromFile).toMatchObject({ id: 'cache-1', name: 'cache', version: '2.0', tags: ['amd64'], info: { memoryMb: 4096 }, owner: 'admin' });

    // The table shows each info field on its own row, not the info object as one JSON line.
    const shown = await ok(['get', 'lab', 'builder-1']);
    expect(shown).toMatch(/│ info\.cpu\s+│ 8\s+│/);
    expect(shown).toMatch(/│ info\.extra\.zone\s+│ a\s+│/);
    expect(shown).not.toContain('{"');

    const got = JSON.parse(await ok(['get', 'lab', 'builder-1', '--json'])) as ServiceRecord;
    expect(got).toMatchObject({ name: 'builder-1', endpoint: 'http://127.0.0.2:5050', tags: ['ci', 'amd64'], category: 'sidecar', ttlSeconds: 120, info: { cpu: 8, extra: { zone: 'a' } } });
    // The edge records the client address it saw (the launcher takes it from the TCP peer).
    expect(got.observedIp).toBe('127.0.0.1');

    const listed = await ok(['list', 'lab']);
    expect(listed).toMatch(/ID.*NAME.*ENDPOINT/);
    expect(listed.indexOf('builder-1')).toBeLessThan(listed.indexOf('cache-1'));

    const paged = JSON.parse(await ok(['list', 'lab', '--limit', '1', '--json'])) as { records: ServiceRecord[]; nextCursor?: string };
    expect(paged.records.map((r) => r.id)).toEqual(['builder-1']);
    expect(paged.nextCursor).toBeTruthy();
    const all = JSON.parse(await ok(['list', 'lab', '--limit', '1', '--all', '--json'])) as { records: ServiceRecord[] };
    expect(all.records.map((r) => r.id)).toEqual(['builder-1', 'cache-1']);

    const search = JSON.parse(await ok(['search', 'lab', 'builder', '--tag', 'amd64', '--json'])) as { hits: { score: number; record: ServiceRecord }[] };
    // "builder" is a prefix of builder-1's id and name, but only in cache-1's description.
    expect(search.hits.map((h) => h.record.id)).toEqual(['builder-1', 'cache-1']);
    expect(search.hits[0]!.score).toBeGreaterThan(search.hits[1]!.score);
    expect(await ok(['search', 'lab', '--category', 'sidecar'])).toMatch(/SCORE[\s\S]*builder-1/);

    expect(await ok(['delete', 'lab', 'builder-1'])).toContain('deleted lab/builder-1');
    const missing = await cli(['get', 'lab', 'builder-1']);
    expect(missing.code).toBe(1);
    expect(missing.stderr.trim()).toMatch(/^fastreg: 404 NOT_FOUND: no record "builder-1"/);
    expect(missing.stdout).toBe('');
  });

  it('fails with one clear line and a non-zero exit code', async () => {
    const noToken = await cli(['add', 'lab2', 'x'], null);
    expect(noToken.code).toBe(1);
    expect(noToken.stderr.trim()).toBe('fastreg: 401 UNAUTHORIZED: missing bearer token (set --token or FASTREG_TOKEN)');

    const wrong = await cli(['add', 'lab2', 'x', '--token', 'not-the-token-00000000']);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr.trim()).toBe('fastreg: 401 UNAUTHORIZED: invalid bearer token');

    await ok(['add', 'lab2', 'mine'], ALICE);
    const other = await cli(['delete', 'lab2', 'mine'], BOB);
    expect(other.code).toBe(1);
    expect(other.stderr.trim()).toBe('fastreg: 403 DENIED: record "mine" belongs to "alice"');
    await ok(['delete', 'lab2', 'mine'], edge.token);

    const bad = await cli(['add', 'lab2', 'x', '--endpoint', 'ftp://nope']);
    expect(bad.code).toBe(1);
    expect(bad.stderr.trim()).toMatch(/^fastreg: 400 INVALID_REQUEST: invalid body: endpoint: must be an http\(s\) URL/);

    const badName = await cli(['get', 'Lab', 'x']);
    expect(badName.code).toBe(1);
    expect(badName.stderr).toMatch(/400 NAME_INVALID/);

    const badFlag = await cli(['list', 'lab', '--limit', 'zero']);
    expect(badFlag.code).not.toBe(0);
    expect(badFlag.stderr).toMatch(/must be a positive integer/);

    const closed = await closedPort();
    const down = await cli(['list', 'lab', '--edge', `http://127.0.0.1:${closed}`]);
    expect(down.code).toBe(1);
    expect(down.stderr.trim()).toBe(`fastreg: cannot reach the edge at http://127.0.0.1:${closed}: ECONNREFUSED`);
  });

  it('watch sees an add, a delete and an expiry, in order', async () => {
    const child = spawn(process.execPath, [FASTREG_BIN, 'services', 'watch', 'watched', '--json', '--count', '4', '--timeout', '60'], {
      cwd: REPO_ROOT,
      env: cliEnv({ edge: edge.url, token: null }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`watch did not start: ${stderr}`)), 30_000);
        child.stderr.setEncoding('utf8').on('data', (d: string) => {
          stderr += d;
          if (stderr.includes('watching watched')) {
            clearTimeout(timer);
            resolve();
          }
        });
      });
      await ok(['add', 'watched', 'a', '--ttl', '60']);
      await ok(['delete', 'watched', 'a']);
      const added = Date.now();
      await ok(['add', 'watched', 'short', '--ttl', '1']);
      const code = await exited;
      expect(code, stderr).toBe(0);
      const events = stdout.trim().split('\n').map((line) => JSON.parse(line) as ServiceEvent);
      expect(events.map((e) => [e.type, e.id])).toEqual([
        ['add', 'a'],
        ['delete', 'a'],
        ['add', 'short'],
        ['expire', 'short'],
      ]);
      // The alarm fired in real time, about one TTL after the add.
      expect(Date.parse(events[3]!.at) - added).toBeGreaterThanOrEqual(900);
      expect(Date.parse(events[3]!.at) - added).toBeLessThan(15_000);
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('watch --timeout without enough events exits non-zero with a message', async () => {
    const result = await cli(['watch', 'quiet', '--count', '1', '--timeout', '1']);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('watching quiet');
    expect(result.stderr).toContain('fastreg: timed out after 1s with 0 of 1 events');
  });
});
