import type { MiddlewareHandler } from 'hono';
import type { AppEnv } from '../app-env.js';
import { getConfig } from '../shared/edge-config.js';

/** Puts the validated config on the context; a bad config fails every request with its message. */
export function loadConfig(): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    c.set('config', getConfig(c.env));
    await next();
  };
}
