import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

// Runs first in `npm test`: the Node tests drive real system tools. On Debian as root the missing ones
// are installed here (this is the one install list; .ci/run only runs npm ci and npm test); anywhere
// else the run stops at once with the exact install line.
// FASTREG_TEST_PREREQS: "auto" (default), "check" (never install), "off" (skip the check).

export interface SystemTool {
  command: string;
  /** Debian package that provides it. */
  aptPackage: string;
  usedBy: string;
}

export const SYSTEM_TOOLS: readonly SystemTool[] = [
  { command: 'docker-registry', aptPackage: 'docker-registry', usedBy: 'the real upstream and the pull-through cache baseline' },
  { command: 'skopeo', aptPackage: 'skopeo', usedBy: 'pushing test images; a real client' },
  { command: 'dockerd', aptPackage: 'docker.io', usedBy: 'a real Docker engine pulling through the mirror' },
  { command: 'containerd', aptPackage: 'containerd', usedBy: 'a real containerd pulling through hosts.toml' },
  { command: 'ctr', aptPackage: 'containerd', usedBy: 'a real containerd pulling through hosts.toml' },
  { command: 'chromium', aptPackage: 'chromium', usedBy: 'the status page in a browser' },
  { command: 'systemd-analyze', aptPackage: 'systemd', usedBy: 'checking deploy/fastreg-sidecar.service' },
];

// Root's PATH has the sbin folders; a user's may not, and dockerd lives there.
const EXTRA_DIRS = ['/usr/sbin', '/sbin'];

export function findCommand(command: string, envPath = process.env.PATH ?? ''): string | undefined {
  for (const dir of [...envPath.split(':').filter(Boolean), ...EXTRA_DIRS]) {
    const candidate = path.join(dir, command);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

export function missingTools(envPath?: string): SystemTool[] {
  return SYSTEM_TOOLS.filter((tool) => !findCommand(tool.command, envPath));
}

export function installLine(missing: readonly SystemTool[]): string {
  const packages = [...new Set(missing.map((tool) => tool.aptPackage))];
  return `apt-get install -y --no-install-recommends ${packages.join(' ')}`;
}

function canInstall(): boolean {
  return existsSync('/etc/debian_version') && process.getuid?.() === 0 && Boolean(findCommand('apt-get'));
}

function report(missing: readonly SystemTool[]): string {
  return missing.map((tool) => `  ${tool.command} (Debian package ${tool.aptPackage}): ${tool.usedBy}`).join('\n');
}

function main(): number {
  const mode = process.env.FASTREG_TEST_PREREQS ?? 'auto';
  if (mode === 'off') return 0;
  let missing = missingTools();
  if (missing.length === 0) return 0;

  if (mode === 'auto' && canInstall()) {
    const line = installLine(missing);
    process.stderr.write(`npm test: installing missing system tools:\n${report(missing)}\n+ apt-get update && ${line}\n`);
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    for (const args of [['update', '-qq'], line.split(' ').slice(1)]) {
      const result = spawnSync('apt-get', args, { stdio: 'inherit', env });
      if (result.status !== 0) {
        process.stderr.write(`npm test: apt-get ${args.join(' ')} failed (exit ${result.status ?? result.signal})\n`);
        return 1;
      }
    }
    missing = missingTools();
    if (missing.length === 0) return 0;
  }

  const sudo = process.getuid?.() === 0 ? '' : 'sudo ';
  process.stderr.write(
    `npm test needs system tools that are missing:\n${report(missing)}\n` +
      `Install them, then run npm test again:\n  ${sudo}${installLine(missing)}\n` +
      `(On Debian as root npm test installs them itself; FASTREG_TEST_PREREQS=off skips this check.)\n`,
  );
  return 1;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) process.exit(main());
