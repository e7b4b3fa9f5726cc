import type { EdgeConfig } from './shared/edge-config.js';

/** Hono environment of the edge app. */
export interface AppEnv {
  Bindings: Env;
  Variables: { config: EdgeConfig };
}
