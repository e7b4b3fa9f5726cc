import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { request } from 'node:http';
import path from 'node:path';
import { connect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT, startEdge } from '../../scripts/edge-launcher.js';
import { OciLayout, offlineProxyEnv, pushImage } from '../helpers/images.js';
import { commandExists, freePort, makeTempDir, runOk, waitUntil } from '../helpers/processes.js';
import { startRegistry, type RunningRegistry } from '../helpers/registry.js';

// skopeo (like podman and crane) tries TLS first on a registry marked insecure. `npm start`'s edge must
// refuse that ClientHello at once so the HTTP fallback follows immediately, not after a 10 s timeout.

const missing = ['docker-registry', 'skopeo'].filter((command) => !commandExists(command));
if (missing.length && process.env.CI) throw new Error(`tls-stall cannot run in CI: ${missing.join(', ')} missing`);

const TOKEN = 'tls-stall-test-token-0123456789';

/** PUTs a service record from a given loopback source address; resolves the status. */
function putFrom(localAddress: string, url: string, body: unknown): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'PUT', localAddress, headers: { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json' } }, (res) => {
      res.resume();
      res.once('end', () => resolve(res.statusCode ?? 0));
    });
    req.once('error', reject);
    req.end(JSON.stringify(body));
  });
}

/** ms until a TLS handshake against host:port fails, or `stalled` after limitMs. */
function tlsHandshake(port: number, limitMs: number): Promise<number | 'stalled'> {
  const started = Date.now();
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port, rejectUnauthorized: false });
    const timer = setTimeout(() => {
      socket.destroy();
      resolve('stalled');
    }, limitMs);
    const done = () => {
      clearTimeout(timer);
      socket.destroy();
      resolve(Date.now() - started);
    };
    socket.once('error', done);
    socket.once('close', done);
    socket.once('secureConnect', done);
  });
}

describe.skipIf(missing.length > 0)('no TLS stall on the local edge', () => {
  let work: { dir: string; remove(): void };
  let upstream: RunningRegistry;
  let start: ChildProcess | undefined;
  let port: number;
  let output = '';

  beforeAll(async () => {
    work = makeTempDir('tls-stall');
    upstream = await startRegistry();
    const layout = new OciLayout(path.join(work.dir, 'layout'));
    layout.tag(await layout.writeImage([[{ name: 'hello', content: `tls stall ${Date.now()}\n` }]]), '1');
    await pushImage(layout.dir, '1', `${upstream.hostPort}/library/tls:1`);

    port = await freePort();
    start = spawn(process.execPath, ['--import', 'tsx', path.join(REPO_ROOT, 'scripts/start.ts')], {
      cwd: REPO_ROOT,
      env: {
        ...process.env,
        FASTREG_PORT: String(port),
        FASTREG_STATE_DIR: path.join(work.dir, 'state'),
        FASTREG_UPSTREAM: upstream.url,
        FASTREG_START_SIDECAR: '0',
        FASTREG_TOKEN: TOKEN,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    start.stdout!.on('data', (d: Buffer) => (output += d.toString()));
    start.stderr!.on('data', (d: Buffer) => (output += d.toString()));
    await waitUntil(() => output.includes('listening on'), 90_000, () => `npm start did not come up:\n${output}`);
  }, 180_000);

  afterAll(async () => {
    if (start && start.exitCode === null) {
      const exited = new Promise((resolve) => start!.once('exit', resolve));
      start.kill('SIGINT');
      await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 15_000))]);
      if (start.exitCode === null) start.kill('SIGKILL');
    }
    await upstream?.stop();
    work?.remove();
  }, 60_000);

  it('closes a TLS ClientHello at once', async () => {
    const ms = await tlsHandshake(port, 5_000);
    expect(ms).not.toBe('stalled');
    expect(ms).toBeLessThan(500);
    // Plain HTTP on the same port still works.
    expect((await fetch(`http://127.0.0.1:${port}/v2/`)).status).toBe(200);
  });

  it('still shows the Worker each client\'s own loopback address', async () => {
    const base = `http://127.0.0.1:${port}`;
    expect(await putFrom('127.0.0.2', `${base}/services/tls/records/from-two`, { name: 'from-two', endpoint: 'http://127.0.0.2:5050' })).toBe(201);
    const record = (await (await fetch(`${base}/services/tls/records/from-two`)).json()) as { observedIp?: string };
    expect(record.observedIp).toBe('127.0.0.2');
  });

  it('skopeo copy --src-tls-verify=false takes under 1 s, cold and warm', async () => {
    for (const round of ['cold', 'warm']) {
      const out = path.join(work.dir, `copy-${round}`);
      const started = performance.now();
      await runOk('skopeo', ['copy', '--quiet', '--src-tls-verify=false', `docker://127.0.0.1:${port}/library/tls:1`, `oci:${out}:1`], {
        env: { ...process.env, ...offlineProxyEnv() },
        timeoutMs: 60_000,
      });
      const ms = performance.now() - started;
      console.log(`skopeo copy from npm start's edge (${round}): ${ms.toFixed(0)} ms`);
      expect(existsSync(path.join(out, 'index.json'))).toBe(true);
      expect(ms, `${round} copy`).toBeLessThan(1_000);
    }
  }, 120_000);

  it('without the guard the same handshake stalls (what the guard fixes)', async () => {
    const bare = await startEdge({ stateDir: path.join(work.dir, 'bare'), upstream: upstream.url, logs: false });
    try {
      expect(await tlsHandshake(Number(new URL(bare.url).port), 2_000)).toBe('stalled');
    } finally {
      await bare.stop();
    }
  }, 60_000);
});
