import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningEdge } from '../../scripts/edge-launcher.js';
import { startEdge } from '../../scripts/edge-launcher.js';
import { type CliResult, runFastreg } from '../helpers/cli.js';
import type { DoctorReport } from '../../sidecar/doctor/run.js';
import { freePort, makeTempDir, waitUntil } from '../helpers/processes.js';
import { TEST_TOKEN, startSidecar, type SidecarProcess } from '../helpers/sidecar-cluster.js';

// `fastreg doctor` against good and broken config trees in temp folders, a real edge and a real
// sidecar registered with it.

let work: { dir: string; remove(): void };
let edge: RunningEdge;
let lonelyEdge: RunningEdge;
let sidecar: SidecarProcess;
let deadPort: number;
let registries: string[];

function tree(name: string, files: Record<string, string>): { docker: string; containerd: string; certs: string } {
  const root = path.join(work.dir, name);
  for (const [file, content] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(root, file)), { recursive: true });
    writeFileSync(path.join(root, file), content.replaceAll('@ROOT@', root));
  }
  return { docker: path.join(root, 'docker', 'daemon.json'), containerd: path.join(root, 'containerd', 'config.toml'), certs: path.join(root, 'certs.d') };
}

const hostsToml = (registry: string, host: string, capabilities = '["pull", "resolve"]') =>
  `server = "https://${registry}"\n\n[host."${host}"]\n  capabilities = ${capabilities}\n`;

function doctor(args: string[], target: RunningEdge = edge): Promise<CliResult> {
  return runFastreg(['doctor', '--timeout', '2000', ...args], { edge: target.url, token: null });
}

async function report(args: string[], target?: RunningEdge): Promise<{ code: number | null; report: DoctorReport; byId: Map<string, DoctorReport['findings'][number]> }> {
  const result = await doctor([...args, '--json'], target);
  expect(result.stderr).toBe('');
  const parsed = JSON.parse(result.stdout) as DoctorReport;
  return { code: result.code, report: parsed, byId: new Map(parsed.findings.map((f) => [f.id, f])) };
}

beforeAll(async () => {
  work = makeTempDir('doctor');
  deadPort = await freePort();
  edge = await startEdge({ stateDir: path.join(work.dir, 'edge'), token: TEST_TOKEN, logs: false, vars: { SIDECAR_TABLE_TTL_MS: '0' } });
  lonelyEdge = await startEdge({ stateDir: path.join(work.dir, 'lonely'), token: TEST_TOKEN, logs: false, vars: { SIDECAR_TABLE_TTL_MS: '0' } });
  sidecar = await startSidecar({ name: 'doctor-sidecar', entry: 'cli', args: ['--edge', edge.url], env: { FASTREG_ENROLL_TOKEN: edge.enrollToken } });
  await waitUntil(
    async () => ((await (await fetch(`${edge.url}/client-info`)).json()) as { liveSidecars: number }).liveSidecars > 0,
    30_000,
    () => 'the sidecar never showed up as live at the edge',
  );
  registries = ((await (await fetch(`${edge.url}/client-info`)).json()) as { upstreams: string[] }).upstreams;
}, 180_000);

afterAll(async () => {
  await sidecar?.stop();
  await edge?.stop();
  await lonelyEdge?.stop();
  work?.remove();
}, 60_000);

describe('fastreg doctor', () => {
  it('has real help', async () => {
    const help = await doctor(['--help']);
    for (const word of ['--docker-config', '--containerd-config', '--hosts-dir', '--sidecar', '--json', '--skip', 'FASTREG_EDGE', 'Exit code']) expect(help.stdout).toContain(word);
  });

  it('finds nothing wrong on a good host: exit 0', async () => {
    expect(registries).toEqual(expect.arrayContaining(['docker.io', 'ghcr.io']));
    const paths = tree('good', {
      'docker/daemon.json': JSON.stringify({ 'storage-driver': 'overlay2', 'registry-mirrors': [`${edge.url}/`] }),
      'containerd/config.toml': `version = 2\n\n[plugins."io.containerd.grpc.v1.cri".registry]\n  config_path = "@ROOT@/certs.d"\n`,
      ...Object.fromEntries(registries.map((r) => [`certs.d/${r}/hosts.toml`, hostsToml(r, edge.url)])),
    });
    const { code, report: result, byId } = await report(['--docker-config', paths.docker, '--containerd-config', paths.containerd, '--sidecar', sidecar.url]);
    expect(result.findings.filter((f) => f.status !== 'ok')).toEqual([]);
    expect(code).toBe(0);
    expect(result.ok).toBe(true);
    for (const id of ['edge.reachable', 'edge.client-info', 'docker.registry-mirrors', 'containerd.config-path', 'sidecar.local', 'sidecar.site', ...registries.map((r) => `containerd.hosts.${r}`)]) {
      expect(byId.get(id)?.status, id).toBe('ok');
    }
    const human = await doctor(['--docker-config', paths.docker, '--containerd-config', paths.containerd, '--sidecar', sidecar.url]);
    expect(human.code).toBe(0);
    expect(human.stdout).toContain('all good');
  });

  it('names every problem of a broken host with its exact fix: exit 1', async () => {
    const dead = `http://127.0.0.1:${deadPort}`;
    const paths = tree('broken', {
      'docker/daemon.json': JSON.stringify({ 'registry-mirrors': [dead] }),
      'containerd/config.toml': `version = 2\n\n[plugins."io.containerd.grpc.v1.cri".registry.mirrors."docker.io"]\n  endpoint = ["${edge.url}"]\n`,
      'certs.d/docker.io/hosts.toml': hostsToml('registry-1.docker.io', 'http://127.0.0.1:1'),
      'certs.d/quay.io/hosts.toml': hostsToml('quay.io', edge.url, '["pull"]'),
    });
    const { code, report: result, byId } = await report(['--docker-config', paths.docker, '--containerd-config', paths.containerd, '--hosts-dir', paths.certs, '--sidecar', dead]);
    expect(code).toBe(1);
    expect(result.ok).toBe(false);

    const mirrors = byId.get('docker.registry-mirrors')!;
    expect(mirrors.status).toBe('fail');
    expect(mirrors.fix).toContain(`"registry-mirrors": [\n    "${edge.url}",\n    "${dead}"\n  ]`);
    expect(mirrors.fix).toContain('systemctl restart docker');
    expect(byId.get('docker.mirror-reachable')).toMatchObject({ status: 'fail', summary: expect.stringContaining(dead) });

    const configPath = byId.get('containerd.config-path')!;
    expect(configPath.status).toBe('fail');
    expect(configPath.fix).toContain(`[plugins."io.containerd.grpc.v1.cri".registry]\n  config_path = "${paths.certs}"`);
    expect(byId.get('containerd.legacy-mirrors')?.status).toBe('warn');

    expect(byId.get('containerd.hosts.docker.io')).toMatchObject({ status: 'fail', fix: `Add to ${paths.certs}/docker.io/hosts.toml:\n[host."${edge.url}"]\n  capabilities = ["pull", "resolve"]` });
    expect(byId.get('containerd.hosts.ghcr.io')).toMatchObject({
      status: 'fail',
      fix: `mkdir -p ${paths.certs}/ghcr.io and write ${paths.certs}/ghcr.io/hosts.toml:\nserver = "https://ghcr.io"\n\n[host."${edge.url}"]\n  capabilities = ["pull", "resolve"]`,
    });
    expect(byId.get('containerd.hosts.quay.io')).toMatchObject({ status: 'fail', summary: expect.stringContaining('["pull"]') });

    expect(byId.get('sidecar.local')).toMatchObject({ status: 'fail', fix: expect.stringContaining('systemctl enable --now fastreg-sidecar') });
    // The edge still sees the real sidecar in this host's site.
    expect(byId.get('sidecar.site')?.status).toBe('ok');

    const human = await doctor(['--docker-config', paths.docker, '--containerd-config', paths.containerd, '--hosts-dir', paths.certs, '--sidecar', dead]);
    expect(human.code).toBe(1);
    expect(human.stdout).toMatch(/^FAIL {2}registry-mirrors in .* does not list the edge/m);
    expect(human.stdout).toMatch(/problem\(s\)/);
  });

  it('reports unreadable files, containerd 2 without the transfer config_path, and a site without sidecars', async () => {
    const paths = tree('odd', {
      'docker/daemon.json': '{ "registry-mirrors": [',
      'containerd/config.toml': `version = 3\n\n[plugins."io.containerd.cri.v1.images".registry]\n  config_path = "@ROOT@/certs.d"\n`,
      ...Object.fromEntries(registries.map((r) => [`certs.d/${r}/hosts.toml`, hostsToml(r, lonelyEdge.url)])),
    });
    const { code, byId } = await report(['--docker-config', paths.docker, '--containerd-config', paths.containerd, '--sidecar', sidecar.url], lonelyEdge);
    expect(code).toBe(1);
    expect(byId.get('docker.daemon-json')).toMatchObject({ status: 'fail', summary: expect.stringContaining('not valid JSON') });
    expect(byId.get('containerd.config-path')?.status).toBe('ok');
    expect(byId.get('containerd.transfer-config-path')).toMatchObject({ status: 'warn', fix: expect.stringContaining('[plugins."io.containerd.transfer.v1.local"]') });
    // A sidecar answers here, but it registered with the other edge.
    expect(byId.get('sidecar.local')?.status).toBe('ok');
    expect(byId.get('sidecar.site')).toMatchObject({ status: 'fail', fix: expect.stringContaining(`--edge ${lonelyEdge.url}`) });
  });

  it('skips runtimes that are not set up, and fails fast on an unreachable edge', async () => {
    const none = path.join(work.dir, 'none');
    const { code, byId } = await report(['--docker-config', `${none}/docker/daemon.json`, '--containerd-config', `${none}/containerd/config.toml`, '--skip', 'sidecar', '--edge', `http://127.0.0.1:${deadPort}`]);
    expect(code).toBe(1);
    expect(byId.get('edge.reachable')).toMatchObject({ status: 'fail', fix: expect.stringContaining('--edge') });
    expect(byId.get('docker')?.status).toBe('skip');
    expect(byId.get('containerd')?.status).toBe('skip');
    expect(byId.has('sidecar.local')).toBe(false);
  });
});
