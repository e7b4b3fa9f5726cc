import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { offlineProxyEnv } from './images.js';
import { makeTempDir, run, spawnDaemon, waitUntil, type RunResult } from './processes.js';

// A throwaway containerd (Debian package containerd) with temp root/state and no CRI plugin,
// plus a hosts dir whose docker.io/hosts.toml points at the mirror (so requests carry ?ns=docker.io).

export interface RunningContainerd {
  address: string;
  hostsDir: string;
  /** Runs ctr against this containerd in the `fastreg` namespace. */
  ctr(args: string[], timeoutMs?: number): Promise<RunResult>;
  logTail(lines?: number): string;
  stop(): Promise<void>;
}

export async function startContainerd(mirrorUrl: string): Promise<RunningContainerd> {
  const temp = makeTempDir('containerd');
  const dir = temp.dir;
  const address = path.join(dir, 'containerd.sock');
  const configFile = path.join(dir, 'config.toml');
  writeFileSync(
    configFile,
    [
      'version = 2',
      `root = "${path.join(dir, 'root')}"`,
      `state = "${path.join(dir, 'state')}"`,
      'disabled_plugins = ["io.containerd.grpc.v1.cri"]',
      '[grpc]',
      `  address = "${address}"`,
      '[ttrpc]',
      `  address = "${path.join(dir, 'containerd.ttrpc.sock')}"`,
      '[debug]',
      `  address = "${path.join(dir, 'debug.sock')}"`,
      '',
    ].join('\n'),
  );
  const hostsDir = path.join(dir, 'hosts');
  mkdirSync(path.join(hostsDir, 'docker.io'), { recursive: true });
  writeFileSync(
    path.join(hostsDir, 'docker.io', 'hosts.toml'),
    ['server = "https://registry-1.docker.io"', '', `[host."${mirrorUrl}"]`, '  capabilities = ["pull", "resolve"]', ''].join('\n'),
  );
  const env = { ...process.env, ...offlineProxyEnv() };
  const daemon = spawnDaemon('containerd', 'containerd', ['--config', configFile], path.join(dir, 'containerd.log'), { env });
  const ctr = (args: string[], timeoutMs = 180_000) => run('ctr', ['--address', address, '--namespace', 'fastreg', ...args], { env, timeoutMs });
  try {
    await waitUntil(
      async () => daemon.child.exitCode === null && existsSync(address) && (await ctr(['version'], 10_000)).code === 0,
      60_000,
      () => `containerd did not come up (exit ${daemon.child.exitCode}):\n${daemon.tail(40)}`,
    );
  } catch (err) {
    await daemon.stop();
    temp.remove();
    throw err;
  }
  return {
    address,
    hostsDir,
    ctr,
    logTail: (lines) => daemon.tail(lines),
    stop: async () => {
      await daemon.stop();
      await run('umount', ['-R', path.join(dir, 'state')]).catch(() => undefined);
      temp.remove();
    },
  };
}
