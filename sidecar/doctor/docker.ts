import { existsSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { fail, ok, sameUrl, skip, type Finding } from './findings.js';
import { isRegistryAnswer, probe } from './http.js';

// Docker: `registry-mirrors` in daemon.json must list the edge, and every listed mirror must answer
// (dockerd silently falls back to Docker Hub when a mirror fails). Docker mirrors Docker Hub only.

export async function checkDocker(daemonJson: string, edge: string, options: { timeoutMs: number }): Promise<Finding[]> {
  const restart = 'systemctl restart docker';
  const wanted = JSON.stringify({ 'registry-mirrors': [edge] }, null, 2);
  if (!existsSync(daemonJson)) {
    if (!existsSync(dirname(daemonJson))) return [skip('docker', `Docker is not set up on this host (no ${dirname(daemonJson)}); skipped`)];
    return [fail('docker.daemon-json', `${daemonJson} does not exist, so Docker pulls straight from Docker Hub`, `Create ${daemonJson} with:\n${wanted}\nthen: ${restart}`)];
  }
  let config: Record<string, unknown>;
  try {
    const parsed = JSON.parse(readFileSync(daemonJson, 'utf8')) as unknown;
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('not a JSON object');
    config = parsed as Record<string, unknown>;
  } catch (err) {
    return [fail('docker.daemon-json', `${daemonJson} is not valid JSON (${(err as Error).message}); dockerd will not start with it`, `Fix the JSON in ${daemonJson}; it must be an object such as:\n${wanted}\nthen: ${restart}`)];
  }
  const mirrors = Array.isArray(config['registry-mirrors']) ? (config['registry-mirrors'] as unknown[]).map(String) : [];
  const findings: Finding[] = [];
  if (!mirrors.some((mirror) => sameUrl(mirror, edge))) {
    const merged = JSON.stringify({ ...config, 'registry-mirrors': [edge, ...mirrors.filter((m) => !sameUrl(m, edge))] }, null, 2);
    findings.push(
      fail(
        'docker.registry-mirrors',
        mirrors.length === 0 ? `${daemonJson} has no registry-mirrors, so Docker pulls straight from Docker Hub` : `registry-mirrors in ${daemonJson} (${mirrors.join(', ')}) does not list the edge ${edge}`,
        `Make ${daemonJson}:\n${merged}\nthen: ${restart}`,
      ),
    );
  } else {
    findings.push(ok('docker.registry-mirrors', `${daemonJson} lists the edge ${edge} in registry-mirrors (Docker Hub images only; other registries need containerd's hosts.toml)`));
  }
  for (const mirror of mirrors) {
    const answer = await probe(`${mirror.replace(/\/+$/, '')}/v2/`, options);
    if (!isRegistryAnswer(answer)) {
      findings.push(
        fail(`docker.mirror-reachable`, `the mirror ${mirror} in ${daemonJson} does not answer GET /v2/ (${answer.error ?? `HTTP ${answer.status}`}); Docker skips it and goes to Docker Hub`, `Start the edge at ${mirror}, or replace it in ${daemonJson} with a reachable edge (${edge}); then: ${restart}`),
      );
    }
  }
  return findings;
}
