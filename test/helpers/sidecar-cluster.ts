// Starts sidecars as separate processes on loopback, waits for /healthz, and kills them reliably.
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, readFileSync } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { once } from 'node:events';
import { sleep } from './processes.js';

export const TEST_TOKEN = 'sidecar-test-token-0123456789';
/** The SIDECAR_ENROLL_TOKEN of test edges (test/helpers/edge.ts); every test sidecar gets it. */
export const TEST_ENROLL_TOKEN = 'sidecar-test-enroll-token-0123456789';
const ROOT = resolve(import.meta.dirname, '../..');
const ENTRY = join(ROOT, 'test/helpers/sidecar-entry.ts');
const START_TIMEOUT_MS = 60_000;

const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

export interface SidecarStartOptions {
  name: string;
  dir?: string;
  bootstrap?: string[];
  env?: Record<string, string>;
  args?: string[];
  /**
   * 'test' (default) runs the test entry, which honours FASTREG_TEST_* fault injection; 'cli' runs
   * bin/fastreg.js; a path ending in .mjs runs that bundle (scripts/build-sidecar.ts).
   */
  entry?: 'test' | 'cli' | `${string}.mjs`;
  /** Add --open-swarm when the sidecar neither enrolls nor names a key (default true). */
  openSwarmUnlessKeyed?: boolean;
}

export interface SidecarProcess {
  name: string;
  dir: string;
  url: string;
  peerId: string;
  /** The full multiaddr to pass as --bootstrap. */
  addr: string;
  child: ChildProcess;
  output(): string;
  /** SIGTERM, then SIGKILL after a grace period. Resolves with the exit code. */
  stop(): Promise<number | null>;
  kill(): Promise<void>;
  rssBytes(): number;
  metric(name: string): Promise<number>;
}

export async function makeTempDir(prefix: string): Promise<string> {
  return mkdtemp(join(tmpdir(), `fastreg-${prefix}-`));
}

export async function startSidecar(options: SidecarStartOptions): Promise<SidecarProcess> {
  const dir = options.dir ?? (await makeTempDir(options.name));
  const env = { ...process.env, FASTREG_TOKEN: TEST_TOKEN, FASTREG_ENROLL_TOKEN: TEST_ENROLL_TOKEN, ...options.env };
  const extra = options.args ?? [];
  // The swarm is private by default; a sidecar that does not enroll with an edge (which hands out the
  // key) and names no key joins an open swarm, as tests of the P2P layer alone want.
  const enrolls = extra.includes('--edge') && Boolean(env.FASTREG_ENROLL_TOKEN);
  const swarmNamed = extra.includes('--psk-file') || extra.includes('--open-swarm');
  const args = [
    ...entryArgs(options.entry),
    'sidecar',
    '--listen', '/ip4/127.0.0.1/tcp/0',
    '--http', '127.0.0.1:0',
    '--storage-dir', dir,
    '--discovery-interval', '1000',
    ...(options.bootstrap ?? []).flatMap((addr) => ['--bootstrap', addr]),
    ...extra,
    ...(enrolls || swarmNamed || options.openSwarmUnlessKeyed === false ? [] : ['--open-swarm']),
  ];
  const child = spawn(process.execPath, args, {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  live.add(child);
  let output = '';
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  const exited = once(child, 'exit');
  child.once('exit', () => live.delete(child));

  const deadline = Date.now() + START_TIMEOUT_MS;
  while (!/fastreg sidecar ready[\s\S]*--bootstrap \S+/.test(output)) {
    if (child.exitCode !== null) throw new Error(`${options.name} exited with ${child.exitCode}:\n${output}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`${options.name} did not start in time:\n${output}`);
    }
    await sleep(100);
  }
  const url = /http:\s+(http:\/\/\S+)/.exec(output)?.[1] as string;
  const peerId = /peer id:\s+(\S+)/.exec(output)?.[1] as string;
  const addr = /--bootstrap (\S+)/.exec(output)?.[1] as string;
  await waitFor(async () => (await fetch(`${url}/healthz`)).ok, { timeoutMs: 10_000, what: `${options.name} /healthz` });

  const stop = async (): Promise<number | null> => {
    if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 8_000);
    const [code] = (await exited) as [number | null];
    clearTimeout(timer);
    return code;
  };
  return {
    name: options.name,
    dir,
    url,
    peerId,
    addr,
    child,
    output: () => output,
    stop,
    kill: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGKILL');
      await exited;
    },
    rssBytes: () => rssOf(child.pid as number),
    metric: (name) => readMetric(url, name),
  };
}

function entryArgs(entry: SidecarStartOptions['entry']): string[] {
  if (entry === 'cli') return [join(ROOT, 'bin/fastreg.js')];
  if (entry?.endsWith('.mjs')) return [entry];
  return ['--import', 'tsx', ENTRY];
}

export async function stopAll(nodes: Iterable<SidecarProcess | undefined>): Promise<void> {
  await Promise.all([...nodes].map((node) => node?.stop().catch(() => undefined)));
}

export function rssOf(pid: number): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
    return kb * 1024;
  } catch {
    return 0;
  }
}

export async function readMetric(url: string, name: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  let total = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith(name) && (line[name.length] === ' ' || line[name.length] === '{')) total += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return total;
}

export async function waitFor(check: () => Promise<boolean> | boolean, options: { timeoutMs: number; intervalMs?: number; what: string }): Promise<void> {
  const deadline = Date.now() + options.timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      if (await check()) return;
    } catch (err) {
      lastError = err;
    }
    await sleep(options.intervalMs ?? 250);
  }
  throw new Error(`timed out waiting for ${options.what}${lastError ? `: ${(lastError as Error).message}` : ''}`);
}

export { sleep as sleepMs };

/** Writes `size` pseudo-random bytes to a file and returns its path and sha256 digest. */
export async function makeBlobFile(dir: string, size: number, seed = randomBytes(16)): Promise<{ path: string; digest: string; size: number }> {
  const path = join(dir, `blob-${seed.toString('hex').slice(0, 8)}`);
  const out = createWriteStream(path);
  const hash = createHash('sha256');
  const block = 1024 * 1024;
  let counter = 0;
  for (let written = 0; written < size; written += block) {
    // Fast deterministic-but-distinct bytes: a hash chain expanded into a block.
    const chunk = Buffer.alloc(Math.min(block, size - written));
    const head = createHash('sha256').update(seed).update(String(counter++)).digest();
    for (let at = 0; at < chunk.length; at += head.length) head.copy(chunk, at);
    chunk.writeUInt32BE(counter, 0);
    hash.update(chunk);
    if (!out.write(chunk)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
  return { path, digest: `sha256:${hash.digest('hex')}`, size };
}

/** PUTs a file into a sidecar with the token, streaming it. */
export function putBlobFile(url: string, digest: string, path: string, token = TEST_TOKEN): Promise<{ status: number; body: string }> {
  return new Promise((resolvePut, reject) => {
    stat(path).then((info) => {
      const request = http.request(`${url}/blobs/${digest}`, {
        method: 'PUT',
        headers: { Authorization: `Bearer ${token}`, 'Content-Length': String(info.size), 'Content-Type': 'application/octet-stream' },
      });
      request.on('response', (response) => {
        let body = '';
        response.on('data', (d: Buffer) => (body += d.toString()));
        response.on('end', () => resolvePut({ status: response.statusCode ?? 0, body }));
      });
      request.on('error', reject);
      createReadStream(path).pipe(request);
    }, reject);
  });
}

/** GETs a URL and hashes the body as it streams; optionally reads slowly. */
export async function hashGet(url: string, options: { bytesPerSecond?: number } = {}): Promise<{ status: number; digest: string; bytes: number; headers: http.IncomingHttpHeaders }> {
  return new Promise((resolveGet, reject) => {
    http.get(url, (response) => {
      const hash = createHash('sha256');
      let bytes = 0;
      const start = Date.now();
      response.on('data', (chunk: Buffer) => {
        hash.update(chunk);
        bytes += chunk.length;
        if (options.bytesPerSecond) {
          const due = start + (bytes / options.bytesPerSecond) * 1000;
          const wait = due - Date.now();
          if (wait > 5) {
            response.pause();
            setTimeout(() => response.resume(), wait);
          }
        }
      });
      response.on('end', () => resolveGet({ status: response.statusCode ?? 0, digest: `sha256:${hash.digest('hex')}`, bytes, headers: response.headers }));
      response.on('error', reject);
    }).on('error', reject);
  });
}

export async function removeDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}
