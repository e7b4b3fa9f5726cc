import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parse } from 'smol-toml';
import { fail, ok, sameUrl, skip, warn, type Finding } from './findings.js';

// containerd: hosts.toml mirrors take effect only when config_path points at their folder (the CRI
// images plugin; containerd 2's transfer service, used by `ctr image pull` and nerdctl, has its own
// config_path), and only for registries that have a hosts.toml with a [host."<edge>"] that may pull
// and resolve. A missing piece is silently ignored by containerd: the pull goes to the registry.

export const DEFAULT_HOSTS_DIR = '/etc/containerd/certs.d';
const CRI_V2 = 'io.containerd.grpc.v1.cri';
const CRI_V3 = 'io.containerd.cri.v1.images';
const TRANSFER = 'io.containerd.transfer.v1.local';

type Table = Record<string, unknown>;
const table = (value: unknown): Table | undefined => (typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Table) : undefined);

export interface ContainerdOptions {
  config: string;
  /** Overrides config_path (e.g. a `ctr --hosts-dir` folder). */
  hostsDir?: string;
  edge: string;
  registries: string[];
}

export function checkContainerd(options: ContainerdOptions): Finding[] {
  const { config: configFile, edge } = options;
  const restart = 'systemctl restart containerd';
  if (!existsSync(configFile) && !existsSync(dirname(configFile))) {
    return [skip('containerd', `containerd is not set up on this host (no ${dirname(configFile)}); skipped`)];
  }
  const findings: Finding[] = [];
  let config: Table = {};
  if (!existsSync(configFile)) {
    findings.push(fail('containerd.config-path', `${configFile} does not exist, so containerd has no config_path and ignores every hosts.toml`, `Create ${configFile} with:\n${configPathSnippet(2, options.hostsDir ?? DEFAULT_HOSTS_DIR)}\nthen: ${restart}`));
  } else {
    try {
      config = parse(readFileSync(configFile, 'utf8')) as Table;
    } catch (err) {
      return [fail('containerd.config', `${configFile} is not valid TOML (${(err as Error).message.split('\n')[0]}); containerd will not start with it`, `Fix the TOML in ${configFile}, then: ${restart}`)];
    }
    const version = typeof config.version === 'number' ? config.version : 1;
    const plugins = table(config.plugins) ?? {};
    const cri = table(plugins[version >= 3 ? CRI_V3 : CRI_V2]);
    const registry = table(cri?.registry);
    const configPath = typeof registry?.config_path === 'string' && registry.config_path !== '' ? registry.config_path : undefined;
    if (!configPath) {
      findings.push(fail('containerd.config-path', `config_path is not set in ${configFile}, so containerd ignores every hosts.toml`, `Add to ${configFile}:\n${configPathSnippet(version, options.hostsDir ?? DEFAULT_HOSTS_DIR)}\nthen: ${restart}`));
    } else {
      findings.push(ok('containerd.config-path', `config_path = "${configPath}" in ${configFile}`));
      if (options.hostsDir && configPath !== options.hostsDir) {
        findings.push(warn('containerd.hosts-dir', `--hosts-dir ${options.hostsDir} differs from config_path ${configPath}; containerd reads ${configPath}`, `Use the same folder: set config_path = "${options.hostsDir}" in ${configFile}, or check ${configPath}.`));
      }
      options.hostsDir ??= configPath;
    }
    if (registry && table(registry.mirrors)) {
      findings.push(warn('containerd.legacy-mirrors', `${configFile} still has registry.mirrors, which containerd ignores once config_path is set (and is deprecated)`, `Remove the [plugins."${version >= 3 ? CRI_V3 : CRI_V2}".registry.mirrors] tables from ${configFile} and use hosts.toml files; then: ${restart}`));
    }
    if (version >= 3) {
      const transfer = table(plugins[TRANSFER]);
      if (!(typeof transfer?.config_path === 'string' && transfer.config_path !== '')) {
        findings.push(
          warn(
            'containerd.transfer-config-path',
            `containerd 2's transfer service (ctr image pull, nerdctl) has no config_path in ${configFile}, so it ignores hosts.toml`,
            `Add to ${configFile}:\n[plugins."${TRANSFER}"]\n  config_path = "${options.hostsDir ?? DEFAULT_HOSTS_DIR}"\nthen: ${restart}`,
          ),
        );
      }
    }
  }

  const hostsDir = options.hostsDir ?? DEFAULT_HOSTS_DIR;
  for (const registry of options.registries) findings.push(checkHostsToml(hostsDir, registry, edge));
  return findings;
}

function checkHostsToml(hostsDir: string, registry: string, edge: string): Finding {
  const id = `containerd.hosts.${registry}`;
  const file = join(hostsDir, registry, 'hosts.toml');
  const wanted = hostsTomlFor(registry, edge);
  if (!existsSync(file)) return fail(id, `${file} does not exist, so containerd pulls ${registry} images without the mirror`, `mkdir -p ${join(hostsDir, registry)} and write ${file}:\n${wanted}`);
  let hosts: Table;
  try {
    hosts = parse(readFileSync(file, 'utf8')) as Table;
  } catch (err) {
    return fail(id, `${file} is not valid TOML (${(err as Error).message.split('\n')[0]}); containerd ignores it`, `Replace ${file} with:\n${wanted}`);
  }
  const entries = table(hosts.host) ?? {};
  const match = Object.entries(entries).find(([url]) => sameUrl(url, edge));
  if (!match) {
    const listed = Object.keys(entries);
    return fail(id, `${file} has no [host."${edge}"]${listed.length ? ` (it lists ${listed.join(', ')})` : ''}, so ${registry} pulls skip the mirror`, `Add to ${file}:\n[host."${edge}"]\n  capabilities = ["pull", "resolve"]`);
  }
  const capabilities = table(match[1])?.capabilities;
  const list = Array.isArray(capabilities) ? capabilities.map(String) : undefined;
  if (!list || !list.includes('pull') || !list.includes('resolve')) {
    return fail(
      id,
      `[host."${match[0]}"] in ${file} has capabilities ${list ? JSON.stringify(list) : '(none)'}; containerd asks a mirror only for what it lists`,
      `In ${file}, under [host."${match[0]}"], set:\n  capabilities = ["pull", "resolve"]`,
    );
  }
  return ok(id, `${file} sends ${registry} pulls to ${match[0]} (capabilities ${list.join(', ')})`);
}

export function hostsTomlFor(registry: string, edge: string): string {
  const server = registry === 'docker.io' ? 'https://registry-1.docker.io' : `https://${registry}`;
  return `server = "${server}"\n\n[host."${edge}"]\n  capabilities = ["pull", "resolve"]`;
}

function configPathSnippet(version: number, hostsDir: string): string {
  if (version >= 3) return `version = 3\n\n[plugins."${CRI_V3}".registry]\n  config_path = "${hostsDir}"\n\n[plugins."${TRANSFER}"]\n  config_path = "${hostsDir}"`;
  return `version = 2\n\n[plugins."${CRI_V2}".registry]\n  config_path = "${hostsDir}"`;
}
