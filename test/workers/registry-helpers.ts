import { createExecutionContext, env, waitOnExecutionContext } from 'cloudflare:test';
import { createApp } from '../../workers/app.js';

// Drives the shared fake upstream over HTTP. Every test uses its own repository name and blob
// content, so test files never need /__fake/reset and cannot disturb each other.

export const fakeUrl: string = (JSON.parse(env.UPSTREAMS) as Record<string, string>)['docker.io']!;

export interface LogEntry {
  method: string;
  path: string;
  authorization?: string;
  range?: string;
}

export async function fake<T = Record<string, unknown>>(action: string, body: unknown = {}): Promise<T> {
  const res = await fetch(`${fakeUrl}/__fake/${action}`, { method: 'POST', body: JSON.stringify(body) });
  if (!res.ok) throw new Error(`fake ${action}: HTTP ${res.status}`);
  return (await res.json()) as T;
}

export function uniqueName(prefix = 'repo'): string {
  return `${prefix}-${crypto.randomUUID().slice(0, 12)}`;
}

export async function addBlob(options: { text: string } | { size: number }): Promise<{ digest: string; size: number }> {
  return fake('blob', options);
}

export async function addManifest(name: string, tag: string | undefined, manifest: unknown, mediaType: string): Promise<string> {
  return (await fake<{ digest: string }>('manifest', { name, tag, manifest, mediaType })).digest;
}

export async function addFault(match: string, fault: Record<string, unknown>, times?: number): Promise<void> {
  await fake('fault', { match, fault, times });
}

/** Upstream requests whose path contains `part` (and method, if given). */
export async function upstreamLog(part: string, method?: string): Promise<LogEntry[]> {
  const res = await fetch(`${fakeUrl}/__fake/log`, { method: 'POST' });
  const { log } = (await res.json()) as { log: LogEntry[] };
  return log.filter((entry) => entry.path.includes(part) && (method === undefined || entry.method === method));
}

export async function sha256(bytes: ArrayBuffer | Uint8Array): Promise<string> {
  const hash = await crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>);
  return `sha256:${[...new Uint8Array(hash)].map((b) => b.toString(16).padStart(2, '0')).join('')}`;
}

export function blobKeyOf(digest: string): string {
  return `blobs/sha256/${digest.slice('sha256:'.length)}`;
}

export function pieceKeyOf(digest: string, index: number): string {
  return `pieces/sha256/${digest.slice('sha256:'.length)}/${index}`;
}

/** The stored bytes of a blob, read straight from R2 (its pieces, or one object as earlier versions stored it). */
export async function storedBlobBytes(digest: string): Promise<Uint8Array | undefined> {
  const index = await env.BLOBS.get(blobKeyOf(digest));
  if (!index) return undefined;
  if (index.customMetadata?.layout !== 'pieces') return new Uint8Array(await index.arrayBuffer());
  const size = Number(index.customMetadata.size);
  const pieceBytes = Number(index.customMetadata.pieceBytes);
  const out = new Uint8Array(size);
  for (let i = 0; i * pieceBytes < size || (size === 0 && i === 0); i++) {
    const piece = await env.BLOBS.get(pieceKeyOf(digest, i));
    if (!piece) throw new Error(`piece ${i} of ${digest} is missing`);
    out.set(new Uint8Array(await piece.arrayBuffer()), i * pieceBytes);
  }
  return out;
}

/** Waits (bounded) until R2 holds `key`, or returns false. */
export async function waitForObject(key: string, timeoutMs = 10_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await env.BLOBS.head(key)) return true;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return false;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

const app = createApp();

/** Runs one request through the app with bindings overridden (config is parsed per env object). */
export async function fetchWithEnv(url: string, overrides: Record<string, string>, init?: RequestInit): Promise<Response> {
  const ctx = createExecutionContext();
  const res = await app.fetch(new Request(url, init), { ...env, ...overrides }, ctx);
  const body = await res.arrayBuffer();
  await waitOnExecutionContext(ctx);
  return new Response(init?.method === 'HEAD' ? null : body, { status: res.status, headers: res.headers });
}

export interface OciErrorJson {
  errors: { code: string; message: string; detail?: unknown }[];
}

export async function errorCode(res: Response): Promise<string | undefined> {
  const body = (await res.json()) as OciErrorJson;
  return body.errors[0]?.code;
}

export function imageManifest(seed: string): Record<string, unknown> {
  return {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: `sha256:${'a'.repeat(64)}`, size: 2 },
    layers: [],
    annotations: { seed },
  };
}
