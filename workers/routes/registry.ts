import { Hono } from 'hono';
import type { AppEnv } from '../app-env.js';
import { OciError, parseRegistryPath } from '../oci/index.js';

/** OCI Distribution pull API, mounted at /v2. */
export function registryRoutes(): Hono<AppEnv> {
  const routes = new Hono<AppEnv>();

  routes.all('*', (c) => {
    const path = parseRegistryPath(c.req.path);
    const method = c.req.method;
    if (path.kind === 'base' && (method === 'GET' || method === 'HEAD')) {
      return c.json({}, 200, { 'Docker-Distribution-API-Version': 'registry/2.0' });
    }
    if (path.kind === 'upload' || (method !== 'GET' && method !== 'HEAD')) {
      throw new OciError('UNSUPPORTED', `${method} is not supported: FastReg is a read-only pull-through mirror`);
    }
    throw new OciError('UNSUPPORTED', `not implemented yet: ${path.kind}`);
  });

  return routes;
}
