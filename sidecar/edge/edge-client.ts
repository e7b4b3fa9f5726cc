import type { OciErrorBody } from '../../workers/shared/oci/index.js';
import { EdgeHttpError, EdgeUnreachableError } from '../errors.js';

// A small HTTP client for the edge's JSON and SSE endpoints, shared by the CLI and the sidecar.
// It adds the bearer token, a per-request deadline, and turns OCI error bodies into EdgeHttpError.

export interface EdgeClientOptions {
  /** Base URL of the edge, e.g. http://127.0.0.1:8787 */
  baseUrl: string;
  /** The bearer token, or a function giving the current one (a sidecar's renewed credential). */
  token?: string | (() => string | undefined);
  /** Deadline of one JSON request (not of streams). */
  timeoutMs?: number;
  userAgent?: string;
}

export interface RequestOptions {
  body?: unknown;
  query?: Record<string, string | number | undefined>;
  signal?: AbortSignal;
}

export interface SseMessage {
  event: string;
  data: string;
  id?: string;
}

export class EdgeClient {
  readonly baseUrl: string;
  private readonly token: () => string | undefined;
  private readonly timeoutMs: number;
  private readonly userAgent: string;

  constructor({ baseUrl, token, timeoutMs = 15_000, userAgent = 'fastreg' }: EdgeClientOptions) {
    let url: URL;
    try {
      url = new URL(baseUrl);
    } catch {
      throw new TypeError(`edge URL "${baseUrl}" is not a valid URL`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new TypeError(`edge URL "${baseUrl}" must be http(s)`);
    this.baseUrl = url.href.replace(/\/+$/, '');
    this.token = typeof token === 'function' ? token : () => token || undefined;
    this.timeoutMs = timeoutMs;
    this.userAgent = userAgent;
  }

  /** Sends a JSON request and returns the parsed JSON answer. */
  async json<T>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
    const signal = options.signal ? AbortSignal.any([options.signal, AbortSignal.timeout(this.timeoutMs)]) : AbortSignal.timeout(this.timeoutMs);
    const response = await this.send(method, path, options, signal);
    const text = await response.text();
    if (text === '') return undefined as T;
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new EdgeHttpError(response.status, 'INVALID_RESPONSE', `edge answered ${method} ${path} with non-JSON`);
    }
  }

  /** Opens an SSE stream and yields its messages until it ends or the signal aborts. */
  async *events(path: string, options: Omit<RequestOptions, 'body'> = {}): AsyncGenerator<SseMessage> {
    const response = await this.send('GET', path, options, options.signal, { Accept: 'text/event-stream' });
    if (!response.body) return;
    const decoder = new TextDecoder();
    let buffer = '';
    try {
      for await (const chunk of response.body as AsyncIterable<Uint8Array>) {
        buffer += decoder.decode(chunk, { stream: true }).replace(/\r\n?/g, '\n');
        let end: number;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const message = parseSseBlock(buffer.slice(0, end));
          buffer = buffer.slice(end + 2);
          if (message) yield message;
        }
        if (buffer.length > 1024 * 1024) throw new EdgeHttpError(502, 'INVALID_RESPONSE', 'SSE message larger than 1 MiB');
      }
    } catch (err) {
      if (options.signal?.aborted) return;
      throw err;
    }
  }

  private async send(method: string, path: string, options: RequestOptions, signal: AbortSignal | undefined, extra: Record<string, string> = {}): Promise<Response> {
    const url = new URL(this.baseUrl + path);
    for (const [key, value] of Object.entries(options.query ?? {})) {
      if (value !== undefined && value !== '') url.searchParams.set(key, String(value));
    }
    const headers: Record<string, string> = { 'User-Agent': this.userAgent, Accept: 'application/json', ...extra };
    const token = this.token();
    if (token) headers.Authorization = `Bearer ${token}`;
    let body: string | undefined;
    if (options.body !== undefined) {
      body = JSON.stringify(options.body);
      headers['Content-Type'] = 'application/json';
    }
    let response: Response;
    try {
      response = await fetch(url, { method, headers, ...(body !== undefined && { body }), ...(signal && { signal }) });
    } catch (err) {
      if (signal?.aborted && (signal.reason as Error | undefined)?.name === 'TimeoutError') {
        throw new EdgeUnreachableError(`edge at ${this.baseUrl} did not answer ${method} ${url.pathname} within ${this.timeoutMs} ms`);
      }
      if (signal?.aborted) throw err;
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      throw new EdgeUnreachableError(`cannot reach the edge at ${this.baseUrl}: ${cause?.code ?? cause?.message ?? (err as Error).message}`);
    }
    if (!response.ok) throw await toHttpError(response);
    return response;
  }
}

async function toHttpError(response: Response): Promise<EdgeHttpError> {
  const first = parseOciError(await response.text().catch(() => ''));
  return first ? new EdgeHttpError(response.status, first.code, first.message) : new EdgeHttpError(response.status, 'UNKNOWN', `HTTP ${response.status} ${response.statusText}`.trim());
}

/** The first error of an OCI error body, or undefined when the text is not one. */
export function parseOciError(text: string): { code: string; message: string } | undefined {
  try {
    const first = (JSON.parse(text) as OciErrorBody).errors?.[0];
    return first?.code ? { code: first.code, message: first.message } : undefined;
  } catch {
    return undefined;
  }
}

function parseSseBlock(block: string): SseMessage | undefined {
  let event = 'message';
  let id: string | undefined;
  const data: string[] = [];
  for (const line of block.split('\n')) {
    if (line === '' || line.startsWith(':')) continue;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
    if (field === 'event') event = value;
    else if (field === 'data') data.push(value);
    else if (field === 'id') id = value;
  }
  if (data.length === 0) return undefined;
  return { event, data: data.join('\n'), ...(id !== undefined && { id }) };
}
