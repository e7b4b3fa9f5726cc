import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import type { Miniflare as MiniflareType } from 'miniflare';
import { ConfigError, parseConfig } from '../workers/shared/edge-config.js';
import { localVarSources } from './local-vars.js';
import { startTlsGuard, type TlsGuard } from './tls-guard.js';
import { loadHardenedMiniflare } from './miniflare-ingress.js';

// Runs the edge Worker locally through Miniflare's API (never the `wrangler dev` CLI, whose
// inspector proxy cannot carry big bodies). npm start, the Node tests and the benchmark all use it.

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export interface StartEdgeOptions {
  /** 0 picks a free port. */
  port?: number;
  host?: string;
  /** R2 and Durable Object state, the bundled Worker and wrangler's config dir live here. */
  stateDir: string;
  /** Replaces the docker.io entry of UPSTREAMS (e.g. a local registry). */
  upstream?: string;
  /** FASTREG_TOKEN; a random one is generated when absent. */
  token?: string;
  /**
   * SIDECAR_ENROLL_TOKEN (what local sidecars enroll with); a random one is generated when absent.
   * SIDECAR_KEY, when not given, is kept in `${stateDir}/sidecar.key`, so credentials and the swarm
   * key survive a restart.
   */
  enrollToken?: string;
  /** Extra or overriding [vars]/secrets. */
  vars?: Record<string, string>;
  /** Forward the Worker's console output to this process's stdout/stderr (default true). */
  logs?: boolean;
  /**
   * wrangler's config and debug-log dir (XDG_CONFIG_HOME, WRANGLER_LOG_PATH); default
   * `${stateDir}/config`. wrangler reads these once per process, so the first edge started wins.
   */
  wranglerHome?: string;
  /**
   * Extra Miniflare workers started next to the edge (bench/test only, never deployed), e.g. one
   * binding the edge's Durable Objects with `{ className, scriptName: 'fastreg' }`. Reach them with
   * RunningEdge.getWorker(name). Each needs its own `name`.
   */
  extraWorkers?: ExtraWorker[];
  /**
   * The wrangler.toml to read (default the repository's). Its folder's `.dev.vars` (or `.env`,
   * `.env.local`) overrides its [vars], as with wrangler; `vars` override both.
   */
  configPath?: string;
  /**
   * Close connections that open with a TLS ClientHello at once instead of letting them stall
   * (scripts/tls-guard.ts); npm start turns it on. Off by default: every byte then crosses one more
   * loopback hop through Node, which cost 40-50% of warm blob throughput on 2 cores. Only for a
   * loopback host (it connects to workerd from the client's own 127.x address to keep it visible).
   */
  tlsGuard?: boolean;
  /**
   * Apply `.dev.vars` (or `.env`) over [vars] (default true; FASTREG_LOCAL_VARS=0 turns it off, as the
   * Node tests do, so a developer's local settings cannot change their results).
   */
  localVars?: boolean;
}

/** Miniflare worker options for an extra worker (name, modules, scriptPath, bindings, durableObjects…). */
export type ExtraWorker = { name: string } & Record<string, unknown>;

/** A fetcher into one worker of the running Miniflare instance. */
export interface WorkerFetcher {
  fetch(input: string, init?: RequestInit): Promise<{ status: number; text(): Promise<string> }>;
}

export interface RunningEdge {
  url: string;
  token: string;
  enrollToken: string;
  /** The vars the Worker was started with (after overrides). */
  vars: Record<string, string>;
  /** var name -> the local file (e.g. `.dev.vars`) that set it, for vars the Worker got from one. */
  varSources: Record<string, string>;
  /** PIDs of the workerd processes serving this edge. */
  workerdPids(): number[];
  /** A fetcher into an extra worker (see StartEdgeOptions.extraWorkers), bypassing the edge. */
  getWorker(name: string): Promise<WorkerFetcher>;
  stop(): Promise<void>;
}

/** Thrown when the edge config does not validate; message is parseConfig's. */
export class EdgeStartError extends Error {
  override name = 'EdgeStartError';
}

export async function startEdge(options: StartEdgeOptions): Promise<RunningEdge> {
  const stateDir = path.resolve(options.stateDir);
  mkdirSync(stateDir, { recursive: true });
  quietWranglerEnv(path.resolve(options.wranglerHome ?? path.join(stateDir, 'config')));

  // Loaded after the environment is set so neither package looks at the home directory or calls home.
  const { unstable_getMiniflareWorkerOptions, unstable_readConfig } = await import('wrangler');
  const { Miniflare, Log, LogLevel } = loadHardenedMiniflare();

  const configPath = path.resolve(options.configPath ?? path.join(REPO_ROOT, 'wrangler.toml'));
  // wrangler's loader: [vars] with .dev.vars (or .env) on top, as `wrangler dev` would give them.
  const fromToml = unstable_getMiniflareWorkerOptions(configPath);
  const workerOptions = fromToml.workerOptions as Record<string, unknown>;
  const localVars = options.localVars ?? process.env.FASTREG_LOCAL_VARS !== '0';
  const wranglerVars = localVars ? stringVars(workerOptions.bindings) : stringVars(unstable_readConfig({ config: configPath }).vars);
  const vars: Record<string, string> = { ...wranglerVars, ...options.vars };
  const varSources: Record<string, string> = {};
  for (const [key, file] of Object.entries(localVars ? localVarSources(path.dirname(configPath)) : {})) {
    if (key in wranglerVars && !(options.vars && key in options.vars)) varSources[key] = file;
  }
  if (options.upstream) {
    const upstreams = JSON.parse(vars.UPSTREAMS ?? '{}') as Record<string, string>;
    vars.UPSTREAMS = JSON.stringify({ ...upstreams, 'docker.io': options.upstream });
  }
  const token = options.token ?? vars.FASTREG_TOKEN ?? randomBytes(24).toString('base64url');
  vars.FASTREG_TOKEN = token;
  const enrollToken = options.enrollToken ?? vars.SIDECAR_ENROLL_TOKEN ?? randomBytes(24).toString('base64url');
  vars.SIDECAR_ENROLL_TOKEN = enrollToken;
  vars.SIDECAR_KEY ??= keptSecret(path.join(stateDir, 'sidecar.key'));
  try {
    parseConfig(vars);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    const issues = err.issues.map((issue) => {
      const file = varSources[issue.split(/[.:]/, 1)[0] ?? ''];
      return file ? `${issue} (set in ${file})` : issue;
    });
    throw new EdgeStartError(new ConfigError(issues).message);
  }

  const scriptPath = await bundleWorker(path.resolve(REPO_ROOT, fromToml.main ?? 'workers/index.ts'), path.join(stateDir, 'worker'), fromToml.define);

  const before = new Set(workerdChildren());
  const edgeWorker = { ...workerOptions, name: 'fastreg', modules: true, modulesRoot: path.dirname(scriptPath), scriptPath, bindings: vars };
  // The edge stays the entry worker: Miniflare routes its socket to the first one.
  const workers = options.extraWorkers?.length ? { workers: [edgeWorker, ...options.extraWorkers] } : edgeWorker;
  const host = options.host ?? '127.0.0.1';
  if (options.tlsGuard && !isLoopbackHost(host)) {
    throw new EdgeStartError(`the TLS guard needs a loopback host (it would hide LAN clients' addresses), got "${host}"`);
  }
  const guarded = options.tlsGuard === true;
  const mf: MiniflareType = new Miniflare({
    ...workers,
    // Behind the guard, workerd listens on a free loopback port and the guard takes the asked-for one.
    host: guarded ? '127.0.0.1' : host,
    port: guarded ? 0 : (options.port ?? 0),
    cf: false,
    r2Persist: path.join(stateDir, 'r2'),
    durableObjectsPersist: path.join(stateDir, 'do'),
    cachePersist: path.join(stateDir, 'cache'),
    kvPersist: path.join(stateDir, 'kv'),
    d1Persist: path.join(stateDir, 'd1'),
    log: options.logs === false ? new Log(LogLevel.NONE) : new Log(LogLevel.INFO),
    logRequests: false,
    // Quiet still drains workerd's output: an unread pipe fills up and blocks the runtime on its next
    // console.log (every request hung after about 420 logged 404s).
    ...(options.logs === false ? { handleRuntimeStdio: (stdout: Readable, stderr: Readable) => void (stdout.resume(), stderr.resume()) } : {}),
  } as ConstructorParameters<typeof Miniflare>[0]);
  const workerdUrl = new URL(await mf.ready);
  const pids = workerdChildren().filter((pid) => !before.has(pid));
  let guard: TlsGuard | undefined;
  if (guarded) {
    try {
      guard = await startTlsGuard({ host, port: options.port ?? 0, target: { host: workerdUrl.hostname, port: Number(workerdUrl.port) } });
    } catch (err) {
      await mf.dispose();
      throw err;
    }
  }
  const url = guard ? `http://${host.includes(':') ? `[${host}]` : host}:${guard.port}` : workerdUrl.toString().replace(/\/$/, '');

  let stopped: Promise<void> | undefined;
  return {
    url,
    token,
    enrollToken,
    vars,
    varSources,
    workerdPids: () => pids.filter(isAlive),
    getWorker: async (name) => (await mf.getWorker(name)) as unknown as WorkerFetcher,
    stop: () => (stopped ??= (guard?.close() ?? Promise.resolve()).then(() => mf.dispose())),
  };
}

/** A random secret kept in a file (mode 0600) and reused by later starts. */
function keptSecret(file: string): string {
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  const secret = randomBytes(32).toString('base64url');
  writeFileSync(file, `${secret}\n`, { mode: 0o600 });
  return secret;
}

/** Bundles the Worker entry for workerd. Returns the path of the ES module written. */
export async function bundleWorker(entry: string, outDir: string, define: Record<string, string> = {}): Promise<string> {
  mkdirSync(outDir, { recursive: true });
  const outfile = path.join(outDir, 'index.js');
  await build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    format: 'esm',
    platform: 'neutral',
    target: 'es2022',
    conditions: ['workerd', 'worker', 'browser'],
    mainFields: ['module', 'main'],
    external: ['cloudflare:*', 'node:*'],
    define,
    sourcemap: 'linked',
    logLevel: 'warning',
  });
  return outfile;
}

let wranglerHomeSet = false;

function quietWranglerEnv(wranglerHome: string): void {
  process.env.CLOUDFLARE_CF_FETCH_ENABLED = 'false';
  process.env.WRANGLER_SEND_METRICS = 'false';
  if (wranglerHomeSet) return;
  wranglerHomeSet = true;
  process.env.XDG_CONFIG_HOME = wranglerHome;
  process.env.WRANGLER_LOG_PATH = path.join(wranglerHome, 'logs');
  mkdirSync(process.env.WRANGLER_LOG_PATH, { recursive: true });
}

function stringVars(bindings: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries((bindings ?? {}) as Record<string, unknown>)) {
    out[key] = typeof value === 'string' ? value : JSON.stringify(value);
  }
  return out;
}

export function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}

/** workerd processes whose parent is this process (Miniflare spawns workerd directly). */
export function workerdChildren(parent = process.pid): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const close = stat.lastIndexOf(')');
      const comm = stat.slice(stat.indexOf('(') + 1, close);
      const ppid = Number(stat.slice(close + 2).split(' ')[1]);
      if (ppid === parent && comm.startsWith('workerd')) pids.push(Number(entry));
    } catch {
      // process exited while we looked
    }
  }
  return pids;
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
