import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { accessSync, constants, createWriteStream, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';

// Small process utilities for integration tests and the benchmark: daemons run in their own
// process group (so teardown can kill everything they spawned), their output goes to a log file.

export interface Daemon {
  name: string;
  child: ChildProcess;
  logFile: string;
  /** Last lines of the log, for error messages. */
  tail(lines?: number): string;
  stop(): Promise<void>;
}

export function spawnDaemon(name: string, command: string, args: string[], logFile: string, options: SpawnOptions = {}): Daemon {
  const log = createWriteStream(logFile, { flags: 'a' });
  const child = spawn(command, args, { ...options, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout?.pipe(log, { end: false });
  child.stderr?.pipe(log, { end: false });
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
  child.once('error', (err) => log.write(`\n[spawn error] ${err.message}\n`));
  const tail = (lines = 30) => {
    try {
      return readFileSync(logFile, 'utf8').split('\n').slice(-lines).join('\n');
    } catch {
      return '';
    }
  };
  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
        killGroup(child.pid, 'SIGTERM');
        const timedOut = await Promise.race([exited.then(() => false), sleep(10_000).then(() => true)]);
        if (timedOut) killGroup(child.pid, 'SIGKILL');
        await Promise.race([exited, sleep(5_000)]);
      }
      // Children of the daemon (e.g. containerd-shim) may outlive it in the group.
      if (child.pid !== undefined) killGroup(child.pid, 'SIGKILL');
      await new Promise<void>((resolve) => log.end(() => resolve()));
    })());
  return { name, child, logFile, tail, stop };
}

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // already gone
  }
}

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion with a timeout; never throws on exit code (callers assert). */
export function run(command: string, args: string[], options: SpawnOptions & { timeoutMs?: number } = {}): Promise<RunResult> {
  const { timeoutMs = 120_000, ...spawnOptions } = options;
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { ...spawnOptions, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      if (child.pid !== undefined) killGroup(child.pid, 'SIGKILL');
      stderr += `\n[killed after ${timeoutMs} ms]`;
    }, timeoutMs);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`${command} could not start: ${err.message}`));
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Like run, but throws with the command's output when it exits non-zero. */
export async function runOk(command: string, args: string[], options: SpawnOptions & { timeoutMs?: number } = {}): Promise<RunResult> {
  const result = await run(command, args, options);
  if (result.code !== 0) {
    throw new Error(`${command} ${args.join(' ')} exited ${result.code}\n--- stdout\n${result.stdout.slice(-3000)}\n--- stderr\n${result.stderr.slice(-3000)}`);
  }
  return result;
}

export async function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, host, () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/**
 * A port free on every one of `hosts`, from below the kernel's ephemeral range (32768 up on Linux),
 * so no outgoing connection takes it between this check and the caller's bind: a port picked with
 * port 0 on one address was seen taken on another before the process meant for it bound it.
 */
export async function sharedFreePort(hosts: string[], attempts = 50): Promise<number> {
  for (let attempt = 0; attempt < attempts; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    const bound: Server[] = [];
    try {
      for (const host of hosts) {
        const server = createServer();
        await new Promise<void>((resolve, reject) => {
          server.once('error', reject);
          server.listen(port, host, () => resolve());
        });
        bound.push(server);
      }
      return port;
    } catch {
      // taken on one of the hosts: try another
    } finally {
      await Promise.all(bound.map((server) => new Promise((resolve) => server.close(resolve))));
    }
  }
  throw new Error(`no port free on all of ${hosts.join(', ')} after ${attempts} tries`);
}

/** Polls until `check` resolves true; throws with `describe()` after the deadline. */
export async function waitUntil(check: () => Promise<boolean> | boolean, timeoutMs: number, describe: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (let attempt = 0; ; attempt++) {
    try {
      if (await check()) return;
    } catch {
      // not ready yet
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms: ${describe()}`);
    await sleep(Math.min(50 * 2 ** attempt, 500));
  }
}

export async function httpOk(url: string, init: RequestInit = {}): Promise<boolean> {
  const response = await fetch(url, { ...init, signal: AbortSignal.timeout(2_000) });
  await response.body?.cancel();
  return response.status < 500;
}

export function makeTempDir(prefix: string): { dir: string; remove(): void } {
  const base = process.env.FASTREG_TEST_TMP ?? tmpdir();
  const dir = mkdtempSync(path.join(base, `fastreg-${prefix}-`));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true, maxRetries: 3 }) };
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export function commandExists(command: string): boolean {
  const dirs = (process.env.PATH ?? '').split(':').concat(['/usr/sbin', '/sbin', '/usr/bin']);
  return dirs.some((dir) => {
    try {
      accessSync(path.join(dir, command), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}
