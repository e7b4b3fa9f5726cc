import type { EdgeConfig } from './config.js';

/** Hono environment of the edge app. */
export interface AppEnv {
  Bindings: Env;
  Variables: { config: EdgeConfig };
}
