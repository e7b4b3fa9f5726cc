import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

// An in-process OCI upstream that can inject faults. Controlled in-process or over HTTP under
// /__fake/ so tests running inside workerd can drive it too.

export type Fault =
  | { kind: 'status'; status: number; headers?: Record<string, string>; body?: string }
  | { kind: 'slow'; bytesPerSecond: number }
  | { kind: 'wrong-bytes' }
  /** Answers a Range request with the whole blob (200), as some registries do. */
  | { kind: 'ignore-range' }
  /** Sends `afterBytes` (default 1 KiB) of the body, then nothing more, never ending it. */
  | { kind: 'stall'; afterBytes?: number }
  | { kind: 'truncate'; afterBytes: number }
  | { kind: 'reset' };

export interface FaultRule {
  /** Substring or regex source matched against method + ' ' + path, e.g. "GET /v2/library/x/blobs/". */
  match: string;
  fault: Fault;
  /** How many matching requests get the fault; unlimited when absent. */
  times?: number;
}

export interface FakeUpstreamOptions {
  auth?: 'none' | 'bearer' | 'basic';
  username?: string;
  password?: string;
  /** Serve blobs through a 307 to /cdn/<digest>, as Docker Hub does. */
  redirectBlobs?: boolean;
  host?: string;
}

interface StoredManifest {
  body: Buffer;
  mediaType: string;
  digest: string;
}

export interface RequestLogEntry {
  method: string;
  path: string;
  authorization?: string;
  range?: string;
}

const TOKEN = 'fake-upstream-token';

export class FakeUpstream {
  readonly blobs = new Map<string, Buffer>();
  readonly manifests = new Map<string, StoredManifest>(); // key: name@tag or name@digest
  readonly log: RequestLogEntry[] = [];
  private faults: (FaultRule & { used: number })[] = [];
  private server?: Server;
  private down = false;
  url = '';
  ratelimitRemaining = 100;

  constructor(public options: FakeUpstreamOptions = {}) {}

  async start(port = 0): Promise<string> {
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((err) => {
        if (!res.headersSent) res.writeHead(500).end(String(err));
        else res.destroy();
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(port, this.options.host ?? '127.0.0.1', resolve));
    const { port: bound } = this.server.address() as AddressInfo;
    this.url = `http://${this.options.host ?? '127.0.0.1'}:${bound}`;
    return this.url;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  /** Adds a blob and returns its digest. */
  addBlob(bytes: Buffer): string {
    const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
    this.blobs.set(digest, bytes);
    return digest;
  }

  addRandomBlob(size: number): string {
    return this.addBlob(randomBytes(size));
  }

  addManifest(name: string, tag: string | undefined, manifest: unknown, mediaType: string): string {
    const body = Buffer.from(JSON.stringify(manifest));
    const digest = `sha256:${createHash('sha256').update(body).digest('hex')}`;
    const stored = { body, mediaType, digest };
    this.manifests.set(`${name}@${digest}`, stored);
    if (tag) this.manifests.set(`${name}@${tag}`, stored);
    return digest;
  }

  addFault(rule: FaultRule): void {
    this.faults.push({ ...rule, used: 0 });
  }

  setDown(down: boolean): void {
    this.down = down;
  }

  reset(): void {
    this.blobs.clear();
    this.manifests.clear();
    this.log.length = 0;
    this.faults = [];
    this.down = false;
    this.ratelimitRemaining = 100;
  }

  count(method: string, pathPart: string): number {
    return this.log.filter((entry) => entry.method === method && entry.path.includes(pathPart)).length;
  }

  private takeFault(method: string, path: string): Fault | undefined {
    const subject = `${method} ${path}`;
    for (const rule of this.faults) {
      if (rule.times !== undefined && rule.used >= rule.times) continue;
      if (subject.includes(rule.match) || safeRegex(rule.match)?.test(subject)) {
        rule.used += 1;
        return rule.fault;
      }
    }
    return undefined;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', this.url);
    if (url.pathname.startsWith('/__fake/')) return this.control(req, res, url);
    if (this.down) {
      req.socket.destroy();
      return;
    }
    const method = req.method ?? 'GET';
    this.log.push({ method, path: url.pathname, authorization: req.headers.authorization, ...(req.headers.range ? { range: req.headers.range } : {}) });

    if (url.pathname === '/token') return this.token(req, res, url);
    if (url.pathname.startsWith('/cdn/')) {
      if (req.headers.authorization) return sendJson(res, 400, { error: 'CDN must not receive Authorization' });
      const digest = url.pathname.slice('/cdn/'.length);
      return this.sendBlob(req, res, digest, this.takeFault(method, url.pathname));
    }
    if (!url.pathname.startsWith('/v2/')) return sendJson(res, 404, { errors: [{ code: 'NOT_FOUND', message: 'no route' }] });
    if (!this.authorized(req, res, url)) return;

    const fault = this.takeFault(method, url.pathname);
    if (fault?.kind === 'status') {
      res.writeHead(fault.status, { 'Content-Type': 'application/json', ...fault.headers });
      res.end(fault.body ?? JSON.stringify({ errors: [{ code: 'UNKNOWN', message: `injected ${fault.status}` }] }));
      return;
    }
    if (fault?.kind === 'reset') {
      req.socket.destroy();
      return;
    }
    res.setHeader('Docker-Distribution-API-Version', 'registry/2.0');
    res.setHeader('ratelimit-limit', '100;w=21600');
    res.setHeader('ratelimit-remaining', `${this.ratelimitRemaining};w=21600`);
    if (method === 'GET' && url.pathname.includes('/manifests/')) this.ratelimitRemaining = Math.max(0, this.ratelimitRemaining - 1);

    if (url.pathname === '/v2/' || url.pathname === '/v2') return sendJson(res, 200, {});
    const match = /^\/v2\/(.+)\/(manifests|blobs|tags)\/(.+)$/.exec(url.pathname);
    if (!match) return sendJson(res, 404, { errors: [{ code: 'NOT_FOUND', message: 'no route' }] });
    const [, name, section, ref] = match as unknown as [string, string, string, string];
    if (section === 'manifests') {
      const manifest = this.manifests.get(`${name}@${ref}`);
      if (!manifest) return sendJson(res, 404, { errors: [{ code: 'MANIFEST_UNKNOWN', message: 'manifest unknown' }] });
      const body = fault?.kind === 'wrong-bytes' ? Buffer.from(JSON.stringify({ tampered: true })) : manifest.body;
      res.writeHead(200, {
        // An empty media type sends none, as a broken upstream might.
        ...(manifest.mediaType !== '' && { 'Content-Type': manifest.mediaType }),
        'Content-Length': body.length,
        'Docker-Content-Digest': manifest.digest,
      });
      res.end(method === 'HEAD' ? undefined : body);
      return;
    }
    if (section === 'tags') {
      const tags = [...this.manifests.keys()]
        .filter((key) => key.startsWith(`${name}@`) && !key.includes('sha256:'))
        .map((key) => key.slice(name.length + 1));
      if (tags.length === 0) return sendJson(res, 404, { errors: [{ code: 'NAME_UNKNOWN', message: 'repository unknown' }] });
      return sendJson(res, 200, { name, tags });
    }
    if (!this.blobs.has(ref)) return sendJson(res, 404, { errors: [{ code: 'BLOB_UNKNOWN', message: 'blob unknown' }] });
    if (this.options.redirectBlobs && method === 'GET') {
      res.writeHead(307, { Location: `${this.url}/cdn/${ref}` });
      res.end();
      return;
    }
    return this.sendBlob(req, res, ref, fault);
  }

  private async sendBlob(req: IncomingMessage, res: ServerResponse, digest: string, fault: Fault | undefined): Promise<void> {
    const original = this.blobs.get(digest);
    if (!original) return sendJson(res, 404, { errors: [{ code: 'BLOB_UNKNOWN', message: 'blob unknown' }] });
    let blob = original;
    if (fault?.kind === 'wrong-bytes') {
      blob = Buffer.from(original);
      blob[0] = (blob[0] ?? 0) ^ 0xff;
    }
    const headers: Record<string, string | number> = { 'Content-Type': 'application/octet-stream', 'Docker-Content-Digest': digest, 'Accept-Ranges': 'bytes' };
    // One open-ended range (`bytes=N-`), as a mirror asks to continue a blob; anything else gets the whole blob.
    const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    const start = range && fault?.kind !== 'ignore-range' ? Number(range[1]) : 0;
    if (start > 0 && start < blob.length) {
      headers['Content-Range'] = `bytes ${start}-${blob.length - 1}/${blob.length}`;
      blob = blob.subarray(start);
    }
    res.writeHead(start > 0 && headers['Content-Range'] ? 206 : 200, { ...headers, 'Content-Length': blob.length });
    if (req.method === 'HEAD') return void res.end();
    if (fault?.kind === 'stall') {
      res.write(blob.subarray(0, Math.min(blob.length, fault.afterBytes ?? 1024)));
      return; // never finishes; the client must give up
    }
    const limit = fault?.kind === 'truncate' ? fault.afterBytes : blob.length;
    const chunk = fault?.kind === 'slow' ? Math.max(1, Math.floor(fault.bytesPerSecond / 10)) : 256 * 1024;
    for (let offset = 0; offset < limit; offset += chunk) {
      if (res.destroyed) return;
      const ok = res.write(blob.subarray(offset, Math.min(offset + chunk, limit)));
      if (fault?.kind === 'slow') await sleep(100);
      else if (!ok) await new Promise((resolve) => res.once('drain', resolve));
    }
    if (fault?.kind === 'truncate') res.destroy();
    else res.end();
  }

  private authorized(req: IncomingMessage, res: ServerResponse, url: URL): boolean {
    const auth = this.options.auth ?? 'none';
    if (auth === 'none') return true;
    const header = req.headers.authorization ?? '';
    if (auth === 'basic') {
      const expected = `Basic ${Buffer.from(`${this.options.username}:${this.options.password}`).toString('base64')}`;
      if (header === expected) return true;
      res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="fake"', 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'authentication required' }] }));
      return false;
    }
    if (header === `Bearer ${TOKEN}`) return true;
    const name = /^\/v2\/(.+)\/(?:manifests|blobs|tags)\//.exec(url.pathname)?.[1];
    const scope = name ? `,scope="repository:${name}:pull"` : '';
    res.writeHead(401, {
      'WWW-Authenticate': `Bearer realm="${this.url}/token",service="fake-registry"${scope}`,
      'Content-Type': 'application/json',
    });
    res.end(JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'authentication required' }] }));
    return false;
  }

  private token(req: IncomingMessage, res: ServerResponse, url: URL): void {
    if (this.options.username) {
      const expected = `Basic ${Buffer.from(`${this.options.username}:${this.options.password}`).toString('base64')}`;
      if (req.headers.authorization !== expected) return sendJson(res, 401, { details: 'bad credentials' });
    }
    sendJson(res, 200, { token: TOKEN, expires_in: 300, issued_at: new Date().toISOString(), scope: url.searchParams.get('scope') });
  }

  private async control(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const body = await readBody(req);
    const json = body.length ? (JSON.parse(body.toString()) as Record<string, unknown>) : {};
    switch (url.pathname) {
      case '/__fake/reset':
        this.reset();
        this.options = { ...this.options, ...(json as FakeUpstreamOptions) };
        return sendJson(res, 200, {});
      case '/__fake/blob': {
        const digest = json.size !== undefined ? this.addRandomBlob(Number(json.size)) : this.addBlob(Buffer.from(String(json.text ?? '')));
        return sendJson(res, 200, { digest, size: this.blobs.get(digest)!.length });
      }
      case '/__fake/manifest':
        return sendJson(res, 200, {
          digest: this.addManifest(String(json.name), json.tag as string | undefined, json.manifest, String(json.mediaType)),
        });
      case '/__fake/fault':
        this.addFault(json as unknown as FaultRule);
        return sendJson(res, 200, {});
      case '/__fake/down':
        this.setDown(Boolean(json.down));
        return sendJson(res, 200, {});
      case '/__fake/log':
        return sendJson(res, 200, { log: this.log });
      default:
        return sendJson(res, 404, {});
    }
  }
}

function safeRegex(source: string): RegExp | undefined {
  try {
    return new RegExp(source);
  } catch {
    return undefined;
  }
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
