import { createExecutionContext, env, waitOnExecutionContext } from 'cloudflare:test';
import { createApp } from '../../workers/app.js';

// One request through the real app, as a client at `ip` would send it, with redirects left to the
// caller. A fresh env object is a fresh parsed config, hence a fresh sidecar table: no cache between calls.

const app = createApp();

export interface EdgeCallOptions {
  method?: string;
  ip?: string;
  headers?: Record<string, string>;
  /** Sent as `Authorization: Bearer <token>`. */
  token?: string;
  /** Sent as JSON. */
  body?: unknown;
  vars?: Record<string, string>;
}

export async function callEdge(path: string, options: EdgeCallOptions = {}): Promise<Response> {
  const headers = new Headers(options.headers);
  if (options.ip) headers.set('CF-Connecting-IP', options.ip);
  if (options.token) headers.set('Authorization', `Bearer ${options.token}`);
  if (options.body !== undefined) headers.set('Content-Type', 'application/json');
  const request = new Request(`http://edge${path}`, {
    method: options.method ?? 'GET',
    headers,
    redirect: 'manual',
    ...(options.body !== undefined && { body: JSON.stringify(options.body) }),
  });
  const ctx = createExecutionContext();
  const response = await app.fetch(request, { ...env, SIDECAR_TABLE_TTL_MS: '0', ...options.vars } as Env, ctx);
  await waitOnExecutionContext(ctx);
  return response;
}
