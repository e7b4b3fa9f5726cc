import { parseOciError } from '../edge/edge-client.js';
import { EdgeHttpError, EdgeUnreachableError } from '../errors.js';

// fetch for the prefetch: network failures become EdgeUnreachableError naming the server,
// error statuses become EdgeHttpError with the OCI error body's code. Edge and sidecars answer alike.

export interface Server {
  /** "the edge" or "the sidecar", for messages. */
  role: string;
  /** Origin shown in messages. */
  base: string;
}

export async function send(server: Server, url: URL, init: RequestInit & { signal: AbortSignal }): Promise<Response> {
  try {
    return await fetch(url, init);
  } catch (err) {
    if (init.signal.aborted) throw init.signal.reason ?? err;
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    throw new EdgeUnreachableError(`cannot reach ${server.role} at ${server.base}: ${cause?.code ?? cause?.message ?? (err as Error).message}`);
  }
}

/** The error an unexpected answer stands for; consumes the body. */
export async function httpError(server: Server, what: string, response: Response): Promise<EdgeHttpError> {
  const first = parseOciError(await response.text().catch(() => ''));
  const code = first?.code ?? 'UNKNOWN';
  const message = first?.message ?? `HTTP ${response.status}`;
  return new EdgeHttpError(response.status, code, `${server.role} at ${server.base} answered ${what} with ${response.status} ${code}: ${message}`);
}
