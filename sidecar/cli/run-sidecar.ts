import '../polyfills.js';
import type { SidecarConfig } from '../config.js';
import { HttpEdgeRegistrar } from '../edge/http-registrar.js';
import type { SidecarHooks } from '../hooks.js';
import { Sidecar } from '../sidecar.js';
import { formatSize } from '../sizes.js';

/** Starts the sidecar, prints what a user needs to join other nodes to it, and stops cleanly on signals. */
export async function runSidecar(config: SidecarConfig, hooks?: SidecarHooks): Promise<void> {
  const sidecar = await Sidecar.start(config, {
    hooks,
    registrar: () => {
      if (!config.edge) return undefined;
      if (!config.token) {
        process.stderr.write('fastreg sidecar: --edge given without FASTREG_TOKEN; not registering with the edge\n');
        return undefined;
      }
      return new HttpEdgeRegistrar({ edgeUrl: config.edge, token: config.token, heartbeatIntervalMs: config.heartbeatInterval });
    },
  });
  const lines = [
    'fastreg sidecar ready',
    `  peer id:  ${sidecar.peerId}`,
    `  http:     ${sidecar.httpUrl}`,
    `  service:  ${config.service}`,
    `  storage:  ${config.storageDir} (${formatSize(sidecar.store.usage().bytes)} of ${formatSize(config.capacity)} used)`,
    '  join other sidecars to this one with:',
    ...sidecar.multiaddrs.map((addr) => `    --bootstrap ${addr}`),
  ];
  process.stdout.write(`${lines.join('\n')}\n`);

  await new Promise<void>((resolve) => {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) return;
      stopping = true;
      process.stderr.write(`fastreg sidecar: ${signal}, shutting down\n`);
      const force = setTimeout(() => process.exit(1), 10_000);
      force.unref();
      sidecar.stop().finally(() => resolve());
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
  });
}
