import { createExecutionContext, env, waitOnExecutionContext } from 'cloudflare:test';
import { createApp } from '../../workers/app.js';

// Helpers for the service-records tests. Requests go through the real app with an env that may add
// config (owner tokens, read access), which a fresh env object makes the config reader pick up.

export const ADMIN = 'test-token-0123456789abcdef';
export const ALICE = 'alice-token-0123456789';
export const BOB = 'bob-token-0123456789ab';
export const OWNER_TOKENS = JSON.stringify({ alice: ALICE, bob: BOB });

export type Extra = Record<string, string>;

const app = createApp();

export async function call(method: string, path: string, options: { token?: string; body?: unknown; raw?: BodyInit; env?: Extra } = {}): Promise<Response> {
  const headers = new Headers();
  if (options.token) headers.set('Authorization', `Bearer ${options.token}`);
  let body: BodyInit | undefined = options.raw;
  if (options.body !== undefined) {
    body = JSON.stringify(options.body);
    headers.set('Content-Type', 'application/json');
  }
  const request = new Request(`http://edge${path}`, { method, headers, ...(body !== undefined && { body }) });
  const ctx = createExecutionContext();
  const response = await app.fetch(request, { ...env, OWNER_TOKENS, ...options.env } as Env, ctx);
  await waitOnExecutionContext(ctx);
  return response;
}

export async function errorCode(response: Response): Promise<string | undefined> {
  const body = (await response.json()) as { errors?: { code: string }[] };
  return body.errors?.[0]?.code;
}

let counter = 0;
/** A resource name no other test uses. */
export function freshResource(prefix = 'res'): string {
  return `${prefix}-${Date.now().toString(36)}-${(counter++).toString(36)}`;
}

export interface SseEvent {
  event: string;
  data: unknown;
}

/** Reads Server-Sent Events from a response body, one `next()` at a time, each with a deadline. */
export function sseReader(response: Response) {
  const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  return {
    async next(timeoutMs = 5000): Promise<SseEvent> {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const end = buffer.indexOf('\n\n');
        if (end >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const lines = block.split('\n');
          const event = lines.find((l) => l.startsWith('event: '))?.slice(7);
          const data = lines.find((l) => l.startsWith('data: '))?.slice(6);
          if (event) return { event, data: data ? JSON.parse(data) : undefined };
          continue; // a comment (keepalive)
        }
        const left = deadline - Date.now();
        if (left <= 0) throw new Error('timed out waiting for an SSE event');
        let timer: ReturnType<typeof setTimeout> | undefined;
        const chunk = await Promise.race([
          reader.read(),
          new Promise<never>((_, reject) => {
            timer = setTimeout(() => reject(new Error('timed out waiting for an SSE event')), left);
          }),
        ]).finally(() => {
          if (timer !== undefined) clearTimeout(timer);
        });
        if (chunk.done) throw new Error('SSE stream ended');
        buffer += chunk.value;
      }
    },
    async close(): Promise<void> {
      await reader.cancel().catch(() => {});
    },
  };
}
