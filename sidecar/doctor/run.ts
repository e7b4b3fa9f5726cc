import { checkContainerd } from './containerd.js';
import { checkDocker } from './docker.js';
import { checkEdge } from './edge.js';
import type { Finding } from './findings.js';
import { checkSidecar } from './sidecar.js';

export type DoctorCheck = 'docker' | 'containerd' | 'sidecar';
export const DOCTOR_CHECKS: readonly DoctorCheck[] = ['docker', 'containerd', 'sidecar'];

export interface DoctorOptions {
  edge: string;
  token?: string;
  sidecar: string;
  dockerConfig: string;
  containerdConfig: string;
  hostsDir?: string;
  /** Registries to expect hosts.toml for; default: the edge's UPSTREAMS (else docker.io). */
  registries?: string[];
  skip: DoctorCheck[];
  timeoutMs: number;
}

export interface DoctorReport {
  ok: boolean;
  edge: string;
  findings: Finding[];
}

/** Runs every check; `ok` is false when any finding failed (warnings do not count). */
export async function runDoctor(options: DoctorOptions): Promise<DoctorReport> {
  const edge = options.edge.replace(/\/+$/, '');
  const http = { timeoutMs: options.timeoutMs, ...(options.token && { token: options.token }) };
  const { findings, view } = await checkEdge(edge, http);
  const registries = options.registries?.length ? options.registries : (view.info?.upstreams ?? ['docker.io']);
  if (!options.skip.includes('docker')) findings.push(...(await checkDocker(options.dockerConfig, edge, { timeoutMs: options.timeoutMs })));
  if (!options.skip.includes('containerd')) {
    findings.push(...checkContainerd({ config: options.containerdConfig, edge, registries, ...(options.hostsDir && { hostsDir: options.hostsDir }) }));
  }
  if (!options.skip.includes('sidecar')) findings.push(...(await checkSidecar(options.sidecar.replace(/\/+$/, ''), edge, view.info, { timeoutMs: options.timeoutMs })));
  return { ok: findings.every((finding) => finding.status !== 'fail'), edge, findings };
}
