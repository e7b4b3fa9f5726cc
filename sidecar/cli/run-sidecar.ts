import '../polyfills.js';
import type { SidecarConfig } from '../config.js';
import type { SidecarHooks } from '../hooks.js';
import { Sidecar } from '../sidecar.js';
import { formatSize } from '../sizes.js';

/** Starts the sidecar, prints what a user needs to join other nodes to it, and stops cleanly on signals. */
export async function runSidecar(config: SidecarConfig, hooks?: SidecarHooks): Promise<void> {
  if (config.edge && !config.enrollToken) {
    process.stderr.write('fastreg sidecar: --edge given without FASTREG_ENROLL_TOKEN; fetching from the edge anonymously and not registering\n');
  }
  const sidecar = await Sidecar.start(config, { hooks });
  const lines = [
    'fastreg sidecar ready',
    `  peer id:  ${sidecar.peerId}`,
    `  http:     ${sidecar.httpUrl}`,
    `  service:  ${config.service}`,
    `  swarm:    ${config.swarm === 'open' ? 'open (any peer may connect)' : config.swarm === 'edge' ? 'private (key from the edge)' : `private (${config.pskFile})`}`,
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
