import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { freePort, httpOk, makeTempDir, spawnDaemon, waitUntil } from './processes.js';

// A real upstream: CNCF distribution 2.8.2 (Debian package docker-registry) on loopback, with
// filesystem storage in a temp dir. With `proxyRemote` it is distribution's pull-through cache.

export interface RegistryOptions {
  /** Run as a pull-through cache of this registry URL. */
  proxyRemote?: string;
  /** Keep the storage and log in this dir instead of a new temp dir (not removed on stop). */
  dir?: string;
}

export interface RunningRegistry {
  url: string;
  /** host:port, as skopeo and docker references want it. */
  hostPort: string;
  dir: string;
  /** The registry's JSON access/app log, one object per line. */
  logLines(): RegistryLogLine[];
  /** Requests the registry answered for `method` and a path containing `pathPart`. */
  count(method: string, pathPart: string): number;
  /** Successful GETs of one blob and the bytes the registry wrote for them (`http.response.written`). */
  blobReads(digest: string): { gets: number; bytes: number };
  stop(): Promise<void>;
}

export interface RegistryLogLine {
  msg?: string;
  'http.request.method'?: string;
  'http.request.uri'?: string;
  'http.response.status'?: number;
  [key: string]: unknown;
}

export async function startRegistry(options: RegistryOptions = {}): Promise<RunningRegistry> {
  const temp = options.dir ? undefined : makeTempDir('registry');
  const dir = options.dir ?? temp!.dir;
  mkdirSync(path.join(dir, 'storage'), { recursive: true });
  const port = await freePort();
  const config = [
    'version: 0.1',
    'log:',
    '  level: info',
    '  formatter: json',
    '  accesslog:',
    '    disabled: false',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${path.join(dir, 'storage')}`,
    '  delete:',
    '    enabled: true',
    'http:',
    `  addr: 127.0.0.1:${port}`,
    '  debug:',
    '    addr: ""',
    ...(options.proxyRemote ? ['proxy:', `  remoteurl: ${options.proxyRemote}`] : []),
    '',
  ].join('\n');
  const configFile = path.join(dir, 'config.yml');
  writeFileSync(configFile, config);
  const logFile = path.join(dir, 'registry.log');
  const daemon = spawnDaemon('docker-registry', 'docker-registry', ['serve', configFile], logFile, {
    // The proxy must never reach the internet, even if a remote URL is mistyped.
    env: { ...process.env, HTTP_PROXY: 'http://127.0.0.1:9', HTTPS_PROXY: 'http://127.0.0.1:9', NO_PROXY: '127.0.0.1,localhost' },
  });
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitUntil(
      async () => daemon.child.exitCode === null && (await httpOk(`${url}/v2/`)),
      30_000,
      () => `docker-registry did not answer ${url}/v2/ (exit ${daemon.child.exitCode}):\n${daemon.tail()}`,
    );
  } catch (err) {
    await daemon.stop();
    temp?.remove();
    throw err;
  }

  const logLines = (): RegistryLogLine[] =>
    readFileSync(logFile, 'utf8')
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => {
        try {
          return JSON.parse(line) as RegistryLogLine;
        } catch {
          return {};
        }
      });

  return {
    url,
    hostPort: `127.0.0.1:${port}`,
    dir,
    logLines,
    count: (method, pathPart) =>
      logLines().filter(
        (line) => line.msg === 'response completed' && line['http.request.method'] === method && String(line['http.request.uri'] ?? '').includes(pathPart),
      ).length,
    blobReads: (digest) => {
      const lines = logLines().filter(
        (line) =>
          line.msg === 'response completed' &&
          line['http.request.method'] === 'GET' &&
          (line['http.response.status'] === 200 || line['http.response.status'] === 206) &&
          String(line['http.request.uri'] ?? '').includes(`/blobs/${digest}`),
      );
      return { gets: lines.length, bytes: lines.reduce((sum, line) => sum + (Number(line['http.response.written']) || 0), 0) };
    },
    stop: async () => {
      await daemon.stop();
      temp?.remove();
    },
  };
}
