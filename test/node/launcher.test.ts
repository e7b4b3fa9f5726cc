import { spawn } from 'node:child_process';
import { request } from 'node:http';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EdgeStartError, isAlive, REPO_ROOT, startEdge, workerdChildren } from '../../scripts/edge-launcher.js';
import { loadHardenedMiniflare } from '../../scripts/miniflare-ingress.js';
import { TEST_WRANGLER_HOME } from '../helpers/edge.js';
import { freePort, httpOk, makeTempDir, waitUntil } from '../helpers/processes.js';

// The local launcher: config validation, spoof-proof client address, and `npm start` as a process.

describe('startEdge config validation', () => {
  it('rejects a bad upstream URL with parseConfig’s message, before starting anything', async () => {
    const temp = makeTempDir('launcher-bad');
    try {
      const error = await startEdge({ stateDir: temp.dir, upstream: 'ftp://example', logs: false, wranglerHome: TEST_WRANGLER_HOME }).catch((err: unknown) => err);
      expect(error).toBeInstanceOf(EdgeStartError);
      expect((error as Error).message).toContain('UPSTREAMS');
      expect((error as Error).message).toContain('http(s) URL');
      const shortToken = await startEdge({ stateDir: temp.dir, token: 'short', logs: false, wranglerHome: TEST_WRANGLER_HOME }).catch((err: unknown) => err);
      expect((shortToken as Error).message).toContain('FASTREG_TOKEN must be at least 16 characters');
      expect(workerdChildren()).toEqual([]);
    } finally {
      temp.remove();
    }
  });
});

describe('client address seen by the Worker', () => {
  // The launcher's Miniflare, serving a Worker that echoes what it was told about the client.
  let mf: InstanceType<ReturnType<typeof loadHardenedMiniflare>['Miniflare']>;
  let port: number;
  beforeAll(async () => {
    const { Miniflare, Log, LogLevel } = loadHardenedMiniflare();
    mf = new Miniflare({
      modules: true,
      script: `export default { fetch(r) { return Response.json({ ip: r.headers.get('cf-connecting-ip'), blob: r.headers.get('mf-cf-blob'), cfClientIp: r.cf?.clientIp ?? null, country: r.cf?.country ?? null }); } }`,
      cf: false,
      host: '127.0.0.1',
      port: 0,
      log: new Log(LogLevel.NONE),
    });
    port = Number((await mf.ready).port);
  }, 60_000);
  afterAll(async () => {
    await mf?.dispose();
  });

  const echo = (localAddress: string, headers: Record<string, string>) =>
    new Promise<{ ip: string; blob: string | null; cfClientIp: string | null; country: string | null }>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, path: '/', localAddress, headers }, (res) => {
        let text = '';
        res.on('data', (d: Buffer) => (text += d.toString()));
        res.on('end', () => resolve(JSON.parse(text)));
      });
      req.on('error', reject);
      req.end();
    });

  it('is the TCP peer address', async () => {
    expect((await echo('127.0.0.2', {})).ip).toBe('127.0.0.2');
    expect((await echo('127.0.0.3', {})).ip).toBe('127.0.0.3');
  });

  it('cannot be spoofed with CF-Connecting-IP', async () => {
    expect((await echo('127.0.0.2', { 'CF-Connecting-IP': '203.0.113.9' })).ip).toBe('127.0.0.2');
  });

  it('cannot be spoofed through request.cf with MF-CF-Blob', async () => {
    const seen = await echo('127.0.0.2', { 'MF-CF-Blob': JSON.stringify({ clientIp: '203.0.113.9', country: 'XX' }) });
    expect(seen.ip).toBe('127.0.0.2');
    expect(seen.blob).toBeFalsy();
    expect(seen.cfClientIp).not.toBe('203.0.113.9');
    expect(seen.country).not.toBe('XX');
  });
});

describe('npm start (scripts/start.ts)', () => {
  it('serves /v2/ on FASTREG_PORT with a registered sidecar, prints client config and a generated token, and stops both on SIGINT', async () => {
    const temp = makeTempDir('npm-start');
    const port = await freePort();
    const sidecarPort = await freePort();
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(REPO_ROOT, 'scripts/start.ts')], {
      cwd: REPO_ROOT,
      env: {
        ...process.env,
        FASTREG_PORT: String(port),
        FASTREG_STATE_DIR: temp.dir,
        FASTREG_UPSTREAM: 'http://127.0.0.1:9',
        FASTREG_TOKEN: '',
        FASTREG_HTTP: `127.0.0.1:${sidecarPort}`,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      await waitUntil(() => output.includes('listening on'), 90_000, () => `npm start did not come up:\n${output}`);
      const url = `http://127.0.0.1:${port}`;
      expect(output).toContain(`FastReg edge listening on ${url}`);
      expect(output).toContain(`"registry-mirrors": ["${url}"]`);
      expect(output).toContain(`[host."${url}"]`);
      expect(output).toContain('docker.io -> http://127.0.0.1:9');
      expect(output).toMatch(/token:\s+\S{16,}\s+\(generated/);
      const response = await fetch(`${url}/v2/`);
      expect(response.status).toBe(200);
      expect(response.headers.get('docker-distribution-api-version')).toBe('registry/2.0');
      const workerd = workerdChildren(child.pid!);
      expect(workerd.length).toBe(1);

      // The sidecar enrolled (no admin token) and registered itself in the edge's service records.
      await waitUntil(() => output.includes('[sidecar] fastreg sidecar ready'), 60_000, () => `no sidecar:\n${output}`);
      const health = (await (await fetch(`http://127.0.0.1:${sidecarPort}/healthz`)).json()) as { peerId: string };
      await waitUntil(
        async () => (await fetch(`${url}/services/fastreg/records/${health.peerId}`)).status === 200,
        30_000,
        () => `sidecar ${health.peerId} never registered:\n${output}`,
      );
      const record = (await (await fetch(`${url}/services/fastreg/records/${health.peerId}`)).json()) as { owner: string };
      expect(record.owner).toBe(`sidecar:${health.peerId}`);
      expect(output).toMatch(/\[sidecar\]\s+swarm:\s+private \(key from the edge\)/);

      child.kill('SIGINT');
      const code = await Promise.race([exited, new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), 20_000))]);
      expect(code, output).toBe(0);
      expect(output).toContain('SIGINT: stopping');
      await waitUntil(() => workerd.every((pid) => !isAlive(pid)), 5_000, () => `workerd ${workerd} still running after npm start exited`);
      const sidecarAnswers = await httpOk(`http://127.0.0.1:${sidecarPort}/healthz`).catch(() => false);
      expect(sidecarAnswers, 'the sidecar still answers after npm start exited').toBe(false);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
      temp.remove();
    }
  }, 120_000);

  it('exits with the config error for a bad FASTREG_UPSTREAM', async () => {
    const temp = makeTempDir('npm-start-bad');
    try {
      const child = spawn(process.execPath, ['--import', 'tsx', path.join(REPO_ROOT, 'scripts/start.ts')], {
        cwd: REPO_ROOT,
        env: { ...process.env, FASTREG_PORT: '0', FASTREG_STATE_DIR: temp.dir, FASTREG_UPSTREAM: 'not a url' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
      expect(code).toBe(2);
      expect(stderr).toContain('invalid FastReg edge configuration');
      expect(stderr).toContain('UPSTREAMS');
    } finally {
      temp.remove();
    }
  }, 60_000);
});
