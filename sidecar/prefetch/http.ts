import type { OciErrorBody } from '../../workers/oci/index.js';
import { EdgeHttpError, EdgeUnreachableError } from '../edge-client.js';

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
  const text = await response.text().catch(() => '');
  let code = 'UNKNOWN';
  let message = `HTTP ${response.status}`;
  try {
    const first = (JSON.parse(text) as OciErrorBody).errors?.[0];
    if (first?.code) ({ code, message } = first);
  } catch {
    // not an OCI error body
  }
  return new EdgeHttpError(response.status, code, `${server.role} at ${server.base} answered ${what} with ${response.status} ${code}: ${message}`);
}
