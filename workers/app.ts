import { Hono } from 'hono';
import type { AppEnv } from './app-env.js';
import { ConfigError } from './shared/edge-config.js';
import { loadConfig } from './middleware/config.js';
import { requestLimits } from './middleware/limits.js';
import { noSniff } from './shared/http/no-sniff.js';
import { OciError, ociErrorResponse } from './shared/oci/index.js';
import { registryRoutes } from './routes/registry.js';
import { statsRoutes } from './routes/stats.js';
import { metricsRoutes } from './routes/metrics.js';
import { statusRoutes } from './routes/status.js';
import { requestMetrics } from './metrics/middleware.js';
import { leaseRoutes } from './routes/leases.js';
import { serviceRoutes } from './routes/services.js';
import { clientInfoRoutes } from './routes/client-info.js';
import { sidecarRoutes } from './routes/sidecars.js';

export function createApp(): Hono<AppEnv> {
  const app = new Hono<AppEnv>();

  app.use('*', noSniff());
  app.use('*', requestLimits());
  app.use('*', loadConfig());
  app.use('*', requestMetrics());

  app.route('/v2', registryRoutes());
  app.route('/stats', statsRoutes());
  app.route('/metrics', metricsRoutes());
  app.route('/', statusRoutes());
  app.route('/services', serviceRoutes());
  app.route('/leases', leaseRoutes());
  app.route('/client-info', clientInfoRoutes());
  app.route('/sidecars', sidecarRoutes());

  app.notFound((c) => ociErrorResponse(new OciError('NOT_FOUND', `no route for ${c.req.method} ${c.req.path.slice(0, 120)}`), c.req.method));
  app.onError((err, c) => {
    if (err instanceof ConfigError) {
      console.error(err.message);
      return ociErrorResponse(new OciError('UNKNOWN', err.message), c.req.method);
    }
    if (!(err instanceof OciError) || err.status >= 500) console.error(`${c.req.method} ${c.req.path}:`, err);
    return ociErrorResponse(err, c.req.method);
  });
  return app;
}
