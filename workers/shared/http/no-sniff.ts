import type { MiddlewareHandler } from 'hono';

/**
 * `X-Content-Type-Options: nosniff` on every response (errors and not-found included: Hono hands
 * their responses back through here), so a browser never renders a blob or an upstream's bytes as
 * something else than their Content-Type says. Used by the edge and the sidecar's HTTP bridge.
 * Hono's secureHeaders would set it too, but with a dozen other headers and without the copy below.
 */
export function noSniff(): MiddlewareHandler {
  return async (c, next) => {
    await next();
    try {
      c.res.headers.set('X-Content-Type-Options', 'nosniff');
    } catch {
      // A response passed through from fetch() (e.g. a Durable Object's stream) has immutable headers.
      c.res = new Response(c.res.body, c.res);
      c.res.headers.set('X-Content-Type-Options', 'nosniff');
    }
  };
}
