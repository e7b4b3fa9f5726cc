import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { offlineProxyEnv } from './images.js';
import { makeTempDir, run, runOk, spawnDaemon, waitUntil, type RunResult } from './processes.js';

// A throwaway Docker engine (Debian package docker.io) whose only registry path is a mirror:
// vfs storage, no networking changes, everything under a temp dir, internet blocked by a dead proxy.

export interface RunningDocker {
  socket: string;
  /** Runs the docker CLI against this engine. */
  docker(args: string[], timeoutMs?: number): Promise<RunResult>;
  logTail(lines?: number): string;
  stop(): Promise<void>;
}

export async function startDocker(mirrorUrl: string): Promise<RunningDocker> {
  const temp = makeTempDir('docker');
  const dir = temp.dir;
  const socket = path.join(dir, 'docker.sock');
  const configFile = path.join(dir, 'daemon.json');
  writeFileSync(
    configFile,
    JSON.stringify({
      'storage-driver': 'vfs',
      iptables: false,
      ip6tables: false,
      bridge: 'none',
      'ip-forward': false,
      'ip-masq': false,
      'registry-mirrors': [mirrorUrl],
      'max-concurrent-downloads': 3,
    }),
  );
  const env = { ...process.env, ...offlineProxyEnv(), DOCKER_CONFIG: path.join(dir, 'client') };
  const daemon = spawnDaemon(
    'dockerd',
    'dockerd',
    [
      '--config-file', configFile,
      '--data-root', path.join(dir, 'data'),
      '--exec-root', path.join(dir, 'exec'),
      '--pidfile', path.join(dir, 'docker.pid'),
      '-H', `unix://${socket}`,
    ],
    path.join(dir, 'dockerd.log'),
    { env },
  );
  const docker = (args: string[], timeoutMs = 180_000) => run('docker', ['-H', `unix://${socket}`, ...args], { env, timeoutMs });
  try {
    await waitUntil(
      async () => daemon.child.exitCode === null && (await docker(['version', '--format', '{{.Server.Version}}'], 10_000)).code === 0,
      60_000,
      () => `dockerd did not come up (exit ${daemon.child.exitCode}):\n${daemon.tail(40)}`,
    );
  } catch (err) {
    await daemon.stop();
    temp.remove();
    throw err;
  }
  return {
    socket,
    docker,
    logTail: (lines) => daemon.tail(lines),
    stop: async () => {
      // Image layers live under the temp dir; remove them through the engine is unnecessary.
      await daemon.stop();
      await runOk('umount', ['-R', path.join(dir, 'exec')]).catch(() => undefined);
      temp.remove();
    },
  };
}
