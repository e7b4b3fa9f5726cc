// The one reader of sidecar configuration: CLI flags (which commander already merged with their
// FASTREG_* environment variables) validated once with zod, with messages that name the flag.
import { homedir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { RESOURCE_NAME } from '../workers/shared/services/records.js';
import { MAX_PEER_STREAMS, PEER_IDLE_TIMEOUT_MS } from './node/constants.js';
import { parseSize } from './sizes.js';
import { ConfigError } from './errors.js';

export const DEFAULTS = {
  listen: ['/ip4/0.0.0.0/tcp/4001'],
  service: 'fastreg',
  http: '127.0.0.1:5050',
  capacity: '10GiB',
  discoveryIntervalMs: 30_000,
  reprovideIntervalMs: 10 * 60_000,
  heartbeatIntervalMs: 20_000,
  peerIdleTimeoutMs: PEER_IDLE_TIMEOUT_MS,
  maxPeerStreams: MAX_PEER_STREAMS,
  storageDir: join(process.env.XDG_DATA_HOME ?? join(homedir(), '.local', 'share'), 'fastreg', 'sidecar'),
} as const;

const multiaddrText = z.string().regex(/^\/(ip4|ip6|dns|dns4|dns6)\/[^/]+\/tcp\/\d+(\/p2p\/\w+)?$/, 'expected a TCP multiaddr like /ip4/10.0.0.5/tcp/4001');
const bootstrapText = z.string().regex(/^\/(ip4|ip6|dns|dns4|dns6)\/[^/]+\/tcp\/\d+\/p2p\/\w+$/, 'expected a multiaddr ending in /p2p/<peer id>, as printed by a running sidecar');

const hostPort = z
  .string()
  .transform((value, ctx) => {
    const match = /^(?:(\[[0-9a-fA-F:]+\]|[^:]+):)?(\d{1,5})$/.exec(value);
    const port = Number(match?.[2]);
    if (!match || port > 65_535) {
      ctx.addIssue({ code: 'custom', message: 'expected host:port like 127.0.0.1:5050' });
      return z.NEVER;
    }
    return { host: (match[1] ?? '127.0.0.1').replace(/^\[|\]$/g, ''), port };
  });

const size = z.union([z.number(), z.string()]).transform((value, ctx) => {
  const bytes = typeof value === 'number' ? value : parseSize(value);
  if (bytes === undefined || bytes <= 0) {
    ctx.addIssue({ code: 'custom', message: 'expected a size like 10GiB, 500MB or a number of bytes' });
    return z.NEVER;
  }
  return bytes;
});

const intervalMs = z.coerce.number().int().min(100).max(86_400_000);

export const SidecarConfigSchema = z
  .object({
    listen: z.array(multiaddrText).min(1).default([...DEFAULTS.listen]),
    bootstrap: z.array(bootstrapText).default([]),
    service: z.string().regex(RESOURCE_NAME, 'expected 1-63 lowercase characters of [a-z0-9._-], starting and ending with a letter or digit').default(DEFAULTS.service),
    storageDir: z.string().min(1).default(DEFAULTS.storageDir),
    http: hostPort.prefault(DEFAULTS.http),
    edge: z.url({ protocol: /^https?$/, error: 'expected an http(s) URL' }).optional(),
    keyFile: z.string().min(1).optional(),
    pskFile: z.string().min(1).optional(),
    mdns: z.boolean().default(false),
    capacity: size.prefault(DEFAULTS.capacity),
    token: z.string().min(16, 'FASTREG_TOKEN must be at least 16 characters').optional(),
    enrollToken: z.string().min(16, 'FASTREG_ENROLL_TOKEN must be at least 16 characters').optional(),
    openSwarm: z.boolean().default(false),
    discoveryInterval: intervalMs.default(DEFAULTS.discoveryIntervalMs),
    reprovideInterval: intervalMs.default(DEFAULTS.reprovideIntervalMs),
    heartbeatInterval: intervalMs.default(DEFAULTS.heartbeatIntervalMs),
    peerIdleTimeout: intervalMs.default(DEFAULTS.peerIdleTimeoutMs),
    maxPeerStreams: z.coerce.number().int().min(1).max(256).default(DEFAULTS.maxPeerStreams),
  })
  .superRefine((config, ctx) => {
    if (config.openSwarm && config.pskFile) ctx.addIssue({ code: 'custom', path: ['openSwarm'], message: 'contradicts --psk-file: give one or the other' });
    else if (!config.openSwarm && !config.pskFile && !(config.edge && config.enrollToken)) {
      ctx.addIssue({
        code: 'custom',
        path: ['openSwarm'],
        message: 'the swarm is private by default: give --edge with FASTREG_ENROLL_TOKEN (the edge hands out the swarm key), --psk-file, or --open-swarm to let any peer connect',
      });
    }
  })
  .transform((config) => ({
    ...config,
    keyFile: config.keyFile ?? join(config.storageDir, 'identity.key'),
    /** Where the libp2p swarm key comes from: a file, the edge at enrollment, or none (an open swarm). */
    swarm: config.pskFile ? ('psk-file' as const) : config.openSwarm ? ('open' as const) : ('edge' as const),
  }));

export type SidecarConfig = z.output<typeof SidecarConfigSchema>;
export type SidecarConfigInput = z.input<typeof SidecarConfigSchema>;

const FLAG_NAMES: Record<string, string> = {
  storageDir: '--storage-dir',
  keyFile: '--key-file',
  pskFile: '--psk-file',
  token: 'FASTREG_TOKEN',
  enrollToken: 'FASTREG_ENROLL_TOKEN',
  openSwarm: '--open-swarm',
  discoveryInterval: '--discovery-interval',
  reprovideInterval: '--reprovide-interval',
  heartbeatInterval: '--heartbeat-interval',
  peerIdleTimeout: '--peer-idle-timeout',
  maxPeerStreams: '--max-peer-streams',
};

/** Validates once; every problem is reported with the flag it came from. */
export function loadSidecarConfig(input: SidecarConfigInput): SidecarConfig {
  const parsed = SidecarConfigSchema.safeParse(input);
  if (parsed.success) return parsed.data;
  const lines = parsed.error.issues.map((issue) => {
    const key = String(issue.path[0] ?? '');
    const flag = FLAG_NAMES[key] ?? `--${key}`;
    return `${flag}: ${issue.message}`;
  });
  throw new ConfigError(`invalid sidecar configuration:\n  ${lines.join('\n  ')}`);
}
