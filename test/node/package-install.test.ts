import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, statSync, symlinkSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../scripts/edge-launcher.js';
import { freePort, makeTempDir, run, runOk, waitUntil } from '../helpers/processes.js';

// The npm package as a build machine gets it: `npm pack`, then `npm install -g` of the tarball into an
// empty prefix. It must carry the bundled CLI (no tsx, no dev dependencies at run time), stay under
// 100 MB installed, and give a working `fastreg`, including `fastreg sidecar`.

const MAX_INSTALLED_BYTES = 100 * 1024 * 1024;

function sizeOf(dir: string): number {
  let total = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) total += sizeOf(full);
    else if (entry.isFile()) total += statSync(full).size;
  }
  return total;
}

function findNamed(dir: string, name: string, depth = 6): string[] {
  if (depth === 0 || !existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    return [...(entry.name === name ? [full] : []), ...(entry.isDirectory() && !entry.isSymbolicLink() ? findNamed(full, name, depth - 1) : [])];
  });
}

describe('npm pack → npm install -g', () => {
  let work: { dir: string; remove(): void };
  let prefix: string;
  let fastreg: string;
  /** A PATH without the repository's node_modules/.bin, so nothing can fall back to tsx from there. */
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    work = makeTempDir('package');
    prefix = path.join(work.dir, 'prefix');
    const packed = await runOk('npm', ['pack', '--json', '--pack-destination', work.dir], { cwd: REPO_ROOT, timeoutMs: 180_000 });
    const [info] = JSON.parse(packed.stdout.slice(packed.stdout.indexOf('['))) as { filename: string }[];
    const tarball = path.join(work.dir, info!.filename);
    const npmCache = path.join(work.dir, 'npm-cache');
    await runOk('npm', ['install', '-g', '--prefix', prefix, '--offline', '--no-audit', '--no-fund', '--cache', npmCache, tarball], { cwd: work.dir, timeoutMs: 180_000 });
    fastreg = path.join(prefix, 'bin', 'fastreg');
    const nodeDir = path.dirname(process.execPath);
    env = { PATH: `${path.join(prefix, 'bin')}:${nodeDir}:/usr/bin:/bin`, HOME: work.dir, NO_COLOR: '1' };
  }, 300_000);

  afterAll(() => work?.remove());

  it('installs under 100 MB with no tsx, no toolchain and no dev dependencies', () => {
    const installed = path.join(prefix, 'lib', 'node_modules', 'fastreg');
    expect(existsSync(path.join(installed, 'dist', 'fastreg.mjs'))).toBe(true);
    const bytes = sizeOf(prefix);
    console.log(`installed package: ${(bytes / 1024 / 1024).toFixed(1)} MB in ${prefix}`);
    expect(bytes).toBeLessThan(MAX_INSTALLED_BYTES);
    for (const name of ['tsx', 'wrangler', 'miniflare', 'workerd', 'esbuild', 'playwright-core', 'vitest', 'typescript']) {
      expect(findNamed(prefix, name), `${name} was installed`).toEqual([]);
    }
    // No sources either: the bin runs the bundle.
    expect(existsSync(path.join(installed, 'sidecar'))).toBe(false);
  });

  it('fastreg --help works from the installed bundle', async () => {
    const help = await run(fastreg, ['--help'], { cwd: work.dir, env, timeoutMs: 30_000 });
    expect(help.stderr).toBe('');
    expect(help.code).toBe(0);
    for (const command of ['sidecar', 'services', 'lease', 'doctor', 'prefetch', 'status', 'kv']) expect(help.stdout).toContain(command);
  });

  it('fastreg sidecar answers /healthz', async () => {
    const port = await freePort();
    const child = spawn(fastreg, ['sidecar', '--open-swarm', '--listen', '/ip4/127.0.0.1/tcp/0', '--http', `127.0.0.1:${port}`, '--storage-dir', path.join(work.dir, 'store')], {
      cwd: work.dir,
      env: { ...env, FASTREG_TOKEN: 'package-test-token-0123456789' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    try {
      await waitUntil(
        async () => (await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => undefined))?.status === 200,
        60_000,
        () => `installed sidecar never answered /healthz:\n${output}`,
      );
      const health = (await (await fetch(`http://127.0.0.1:${port}/healthz`)).json()) as { peerId?: string };
      expect(health.peerId).toMatch(/^12D3Koo/);
    } finally {
      child.kill('SIGTERM');
      await new Promise((resolve) => {
        const timer = setTimeout(() => {
          child.kill('SIGKILL');
          resolve(undefined);
        }, 10_000);
        child.once('exit', () => {
          clearTimeout(timer);
          resolve(undefined);
        });
      });
    }
  }, 90_000);

  it('exports fastreg/lease-client with its types', async () => {
    const app = path.join(work.dir, 'app');
    mkdirSync(path.join(app, 'node_modules'), { recursive: true });
    symlinkSync(path.join(prefix, 'lib', 'node_modules', 'fastreg'), path.join(app, 'node_modules', 'fastreg'));
    const script = "import { LeaseClient, LeaseVersionError, LEASE_PROTOCOL_VERSION } from 'fastreg/lease-client'; const c = new LeaseClient({ edge: 'http://127.0.0.1:9', token: 'x' }); console.log(typeof c.flush, typeof LeaseVersionError, LEASE_PROTOCOL_VERSION);";
    const result = await run(process.execPath, ['--input-type=module', '-e', script], { cwd: app, env, timeoutMs: 30_000 });
    expect(result.stderr).toBe('');
    expect(result.stdout.trim()).toBe('function function 1');
    expect(existsSync(path.join(prefix, 'lib', 'node_modules', 'fastreg', 'dist', 'types', 'sidecar', 'lease', 'index.d.ts'))).toBe(true);
  });
});
