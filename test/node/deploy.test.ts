import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../scripts/edge-launcher.js';
import { buildCliBundle } from '../../scripts/build-sidecar.js';
import { startDocker, type RunningDocker } from '../helpers/docker.js';
import { commandExists, makeTempDir, run, runOk } from '../helpers/processes.js';

// deploy/: the systemd unit passes `systemd-analyze verify` and scores as hardened; the container recipe
// builds offline (the base is a `docker import` of this machine's node and its libraries) and runs
// `fastreg --help`; every FASTREG_* variable the files set is one `fastreg sidecar` reads.

const UNIT = path.join(REPO_ROOT, 'deploy', 'systemd', 'fastreg-sidecar.service');
const CONTAINERFILE = path.join(REPO_ROOT, 'deploy', 'container', 'Containerfile');
const DAEMONSET = path.join(REPO_ROOT, 'deploy', 'kubernetes', 'fastreg-sidecar.yaml');
const isRoot = process.getuid?.() === 0;

if (process.env.CI && !(commandExists('systemd-analyze') && commandExists('dockerd'))) throw new Error('deploy tests need systemd-analyze and dockerd in CI');

describe('every FASTREG_* setting in deploy/ is a real sidecar setting', () => {
  it('matches `fastreg sidecar --help`', async () => {
    const help = (await runOk(process.execPath, [path.join(REPO_ROOT, 'bin', 'fastreg.js'), 'sidecar', '--help'], { cwd: REPO_ROOT })).stdout;
    const known = new Set(help.match(/FASTREG_[A-Z_]+/g));
    for (const file of [UNIT, CONTAINERFILE, DAEMONSET]) {
      const used = new Set(readFileSync(file, 'utf8').match(/FASTREG_[A-Z_]+/g));
      expect(used.size, file).toBeGreaterThan(0);
      for (const name of used) expect(known.has(name), `${path.basename(file)} sets ${name}, which fastreg sidecar does not read`).toBe(true);
    }
    const daemonset = readFileSync(DAEMONSET, 'utf8');
    for (const needle of ['kind: DaemonSet', 'hostNetwork: true', 'runAsNonRoot: true', 'path: /healthz', 'secretKeyRef:']) expect(daemonset).toContain(needle);
  });
});

describe.skipIf(!commandExists('systemd-analyze'))('deploy/systemd/fastreg-sidecar.service', () => {
  let work: { dir: string; remove(): void };
  let unit: string;

  beforeAll(() => {
    work = makeTempDir('unit');
    // verify checks that ExecStart exists; the package installs /usr/local/bin/fastreg, which this machine may lack.
    const fakeBin = path.join(work.dir, 'fastreg');
    writeFileSync(fakeBin, '#!/bin/sh\n');
    chmodSync(fakeBin, 0o755);
    unit = path.join(work.dir, 'fastreg-sidecar.service');
    writeFileSync(unit, readFileSync(UNIT, 'utf8').replace('/usr/local/bin/fastreg', fakeBin));
  });

  afterAll(() => work?.remove());

  it('passes systemd-analyze verify without a single warning', async () => {
    const result = await run('systemd-analyze', ['verify', unit], { timeoutMs: 30_000 });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
  });

  it('a broken copy does not (the check can fail)', async () => {
    const broken = path.join(work.dir, 'broken', 'fastreg-sidecar.service');
    mkdirSync(path.dirname(broken), { recursive: true });
    writeFileSync(broken, readFileSync(unit, 'utf8').replace('NoNewPrivileges=yes', 'NoNewPrivileges=maybe'));
    expect((await run('systemd-analyze', ['verify', broken], { timeoutMs: 30_000 })).stderr).toContain('Failed to parse boolean');
  });

  it('is hardened: dedicated user, state directory, and an exposure score under 2 ("OK")', async () => {
    const text = readFileSync(UNIT, 'utf8');
    for (const line of ['DynamicUser=yes', 'StateDirectory=fastreg', 'NoNewPrivileges=yes', 'ProtectSystem=strict', 'ProtectHome=yes', 'CapabilityBoundingSet=\n']) {
      expect(text).toContain(line);
    }
    const security = await run('systemd-analyze', ['security', '--offline=yes', '--no-pager', unit], { timeoutMs: 30_000 });
    const score = Number(/Overall exposure level for \S+: ([\d.]+)/.exec(security.stdout)?.[1]);
    console.log(`systemd-analyze security: exposure ${score}`);
    expect(score).toBeLessThan(2);
  });
});

describe.skipIf(!commandExists('dockerd') || !isRoot)('deploy/container/Containerfile', () => {
  let docker: RunningDocker;
  let work: { dir: string; remove(): void };

  beforeAll(async () => {
    work = makeTempDir('image');
    docker = await startDocker('http://127.0.0.1:9');
  }, 120_000);

  afterAll(async () => {
    await docker?.stop();
    work?.remove();
  }, 60_000);

  it('builds offline on a node-only base and runs fastreg --help as uid 1000 with a writable state dir', async () => {
    // The base: this machine's node and the shared libraries it loads, and nothing else.
    const root = path.join(work.dir, 'rootfs');
    const node = execFileSync('readlink', ['-f', process.execPath], { encoding: 'utf8' }).trim();
    const libraries = [...execFileSync('ldd', [node], { encoding: 'utf8' }).matchAll(/(\/\S+) \(0x/g)].map((m) => m[1]!);
    for (const file of [node, ...libraries]) {
      const target = path.join(root, file);
      mkdirSync(path.dirname(target), { recursive: true });
      copyFileSync(file, target);
    }
    mkdirSync(path.join(root, 'usr', 'bin'), { recursive: true });
    if (node !== '/usr/bin/node') copyFileSync(node, path.join(root, 'usr', 'bin', 'node'));
    mkdirSync(path.join(root, 'tmp'), { recursive: true });
    await runOk('tar', ['-C', root, '-cf', path.join(work.dir, 'base.tar'), '.']);
    const imported = await docker.docker(['import', '--change', 'ENV PATH=/usr/bin:/bin', path.join(work.dir, 'base.tar'), 'fastreg-node-base:offline']);
    expect(imported.code, imported.stderr).toBe(0);

    // The build context holds what .dockerignore lets through, with a freshly built bundle.
    const context = path.join(work.dir, 'context');
    for (const file of ['package.json', 'bin/fastreg.js', 'deploy/container/Containerfile', 'deploy/container/state.keep', '.dockerignore']) {
      mkdirSync(path.dirname(path.join(context, file)), { recursive: true });
      copyFileSync(path.join(REPO_ROOT, file), path.join(context, file));
    }
    await buildCliBundle(path.join(context, 'dist', 'fastreg.mjs'));
    // The legacy builder: this Debian engine has no buildx, and the recipe has no RUN step to need it.
    const built = await run('docker', ['-H', `unix://${docker.socket}`, 'build', '-f', 'deploy/container/Containerfile', '--build-arg', 'NODE_IMAGE=fastreg-node-base:offline', '-t', 'fastreg-sidecar:test', '.'], {
      cwd: context,
      env: { ...process.env, DOCKER_BUILDKIT: '0', DOCKER_CONFIG: path.join(work.dir, 'docker-client') },
      timeoutMs: 300_000,
    });
    expect(built.code, `${built.stdout}\n${built.stderr}`).toBe(0);

    const help = await docker.docker(['run', '--rm', '--network', 'none', 'fastreg-sidecar:test', '--help'], 60_000);
    expect(help.code, help.stderr).toBe(0);
    for (const command of ['sidecar', 'services', 'lease', 'status']) expect(help.stdout).toContain(command);

    const probe = "const fs = require('node:fs'); fs.writeFileSync('/var/lib/fastreg/probe', 'ok'); console.log(process.getuid(), process.env.FASTREG_STORAGE_DIR)";
    const writable = await docker.docker(['run', '--rm', '--network', 'none', '--entrypoint', 'node', 'fastreg-sidecar:test', '-e', probe], 60_000);
    expect(writable.stderr).toBe('');
    expect(writable.stdout.trim()).toBe('1000 /var/lib/fastreg');
  }, 400_000);
});
