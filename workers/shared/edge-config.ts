import { z } from 'zod';
import { RESOURCE_NAME } from './services/records.js';
import ipaddr from 'ipaddr.js';

// The one reader of edge configuration: wrangler.toml [vars] plus secrets, validated once per isolate.

const jsonString = <T extends z.ZodType>(schema: T, what: string) =>
  z.string().transform((text, ctx) => {
    try {
      return JSON.parse(text) as unknown;
    } catch {
      ctx.addIssue({ code: 'custom', message: `${what} must be valid JSON` });
      return z.NEVER;
    }
  }).pipe(schema);

const intFromString = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

const upstreamUrl = z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }).transform((u) => u.replace(/\/+$/, ''));

const credentialsSchema = z.record(
  z.string(),
  z.union([
    z.object({ username: z.string().min(1), password: z.string().min(1) }).strict(),
    z.object({ token: z.string().min(1) }).strict(),
  ]),
);

const ownerTokensSchema = z
  .record(
    z.string().regex(/^[a-z0-9](?:[a-z0-9._-]{0,61}[a-z0-9])?$/, 'owner names are 1-63 lowercase characters of [a-z0-9._-]'),
    z.string().min(16, 'owner tokens must be at least 16 characters'),
  )
  .refine((tokens) => new Set(Object.values(tokens)).size === Object.keys(tokens).length, 'two owners share one token')
  .refine((tokens) => !('admin' in tokens), '"admin" is reserved for FASTREG_TOKEN');

const sitesSchema = z.record(
  z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/, 'site names are 1-63 characters of [A-Za-z0-9._-]'),
  z.array(z.string().refine((cidr) => ipaddr.isValidCIDR(cidr), { error: (issue) => `"${String(issue.input)}" is not a CIDR such as 10.1.0.0/16` })).min(1).max(256),
);

const configSchema = z.object({
  UPSTREAMS: jsonString(z.record(z.string().min(1), upstreamUrl), 'UPSTREAMS').default({
    'docker.io': 'https://registry-1.docker.io',
  }),
  DEFAULT_REGISTRY: z.string().min(1).default('docker.io'),
  MANIFEST_TAG_TTL_SECONDS: intFromString(0, 86_400 * 30).default(60),
  UPSTREAM_TIMEOUT_MS: intFromString(100, 600_000).default(30_000),
  PULL_ACCESS: z.enum(['public', 'token']).default('public'),
  /** "public": anyone may read service records. "token": reads need the admin or an owner token. */
  SERVICES_READ_ACCESS: z.enum(['public', 'token']).default('public'),
  LEASE_TTL_MS: intFromString(1_000, 3_600_000).default(30_000),
  LEASE_MAX_HOLDERS: intFromString(1, 64).default(1),
  /** Registered keys each LeaseShard keeps before evicting the least recently used. */
  LEASE_SHARD_CAPACITY: intFromString(1, 10_000_000).default(100_000),
  /**
   * Blobs are stored in R2 as pieces, each put with a known length; readers of a blob that is still
   * being fetched stream each piece as soon as it is stored. This is the smallest piece: a blob is cut
   * into about 16 pieces of at least this and at most 64 MiB (smaller pieces mean an earlier first
   * byte for readers of a filling blob, larger ones faster warm reads).
   */
  BLOB_PIECE_BYTES: intFromString(64 * 1024, 1024 ** 3).default(8 * 1024 * 1024),
  /** Service-records resource the sidecars register in (their --service tag). */
  SIDECAR_RESOURCE: z.string().regex(RESOURCE_NAME, 'SIDECAR_RESOURCE must be a resource name (1-63 of [a-z0-9._-])').default('fastreg'),
  /**
   * Which live sidecar of the client's site gets a blob GET (307): "rendezvous" (hash of the digest:
   * one sidecar per blob), "spread" (round-robin), "local" (http://127.0.0.1:LOCAL_SIDECAR_PORT, every
   * host runs one) or "off" (the edge serves every blob).
   */
  REDIRECT_POLICY: z.enum(['rendezvous', 'spread', 'local', 'off']).default('rendezvous'),
  LOCAL_SIDECAR_PORT: intFromString(1, 65_535).default(5050),
  /** Sites by CIDR: {"site": ["10.1.0.0/16", …]}. Addresses outside every CIDR are a site of their own. */
  SITES: jsonString(sitesSchema, 'SITES').default({}),
  /** How long an isolate reuses its site -> live sidecars table before asking the ServiceRegistry again. */
  SIDECAR_TABLE_TTL_MS: intFromString(0, 60_000).default(5_000),
  FASTREG_TOKEN: z.string().min(16, 'FASTREG_TOKEN must be at least 16 characters').optional(),
  /** Shared by the sidecar fleet: exchanged at POST /sidecars/enroll for a per-sidecar credential. */
  SIDECAR_ENROLL_TOKEN: z.string().min(16, 'SIDECAR_ENROLL_TOKEN must be at least 16 characters').optional(),
  /** Edge-only secret the sidecar credentials, redirect signatures and the swarm key derive from. */
  SIDECAR_KEY: z.string().min(32, 'SIDECAR_KEY must be at least 32 characters').optional(),
  /** How long a sidecar credential lives; sidecars renew it at half-life. */
  SIDECAR_CREDENTIAL_TTL_SECONDS: intFromString(60, 7 * 86_400).default(3_600),
  UPSTREAM_CREDENTIALS: jsonString(credentialsSchema, 'UPSTREAM_CREDENTIALS').optional(),
  /** Owner tokens for service records: {owner: token}. The owner of a record is the token that created it. */
  OWNER_TOKENS: jsonString(ownerTokensSchema, 'OWNER_TOKENS').optional(),
});

export type EdgeConfig = z.output<typeof configSchema> & {
  upstreams: ReadonlyMap<string, string>;
  /** Settings that are valid but probably not what the operator wants: logged once per isolate, shown on the status page. */
  warnings: readonly string[];
};

export class ConfigError extends Error {
  constructor(readonly issues: string[]) {
    super(`invalid FastReg edge configuration:\n  ${issues.join('\n  ')}`);
    this.name = 'ConfigError';
  }
}

/** Validates the raw env (vars and secrets). Throws ConfigError listing every bad value. */
export function parseConfig(env: Record<string, unknown>): EdgeConfig {
  const raw: Record<string, unknown> = {};
  for (const key of Object.keys(configSchema.shape)) {
    const value = env[key];
    if (value !== undefined && value !== '') raw[key] = value;
  }
  const result = configSchema.safeParse(raw);
  if (!result.success) {
    throw new ConfigError(result.error.issues.map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`));
  }
  const config = result.data;
  if (config.SIDECAR_ENROLL_TOKEN !== undefined && config.SIDECAR_KEY === undefined) {
    throw new ConfigError(['SIDECAR_KEY: required with SIDECAR_ENROLL_TOKEN (sidecar credentials are signed with it)']);
  }
  if (!(config.DEFAULT_REGISTRY in config.UPSTREAMS)) {
    throw new ConfigError([`DEFAULT_REGISTRY: "${config.DEFAULT_REGISTRY}" is not a key of UPSTREAMS`]);
  }
  return { ...config, upstreams: new Map(Object.entries(config.UPSTREAMS)), warnings: configWarnings(config) };
}

function configWarnings(config: z.output<typeof configSchema>): string[] {
  const warnings: string[] = [];
  const credentialed = Object.keys(config.UPSTREAM_CREDENTIALS ?? {});
  if (config.PULL_ACCESS === 'public' && credentialed.length > 0) {
    warnings.push(
      `UPSTREAM_CREDENTIALS are set for ${credentialed.join(', ')} while PULL_ACCESS=public: anyone who can reach this edge ` +
        'can pull every image those credentials can read. Set PULL_ACCESS=token, or drop the credentials if only public images are mirrored.',
    );
  }
  return warnings;
}

const cache = new WeakMap<object, EdgeConfig>();
const logged = new Set<string>();

/** Config for this env object, parsed once per isolate; its warnings are logged once per isolate. */
export function getConfig(env: object): EdgeConfig {
  let config = cache.get(env);
  if (!config) {
    config = parseConfig(env as Record<string, unknown>);
    cache.set(env, config);
    for (const warning of config.warnings) {
      if (logged.has(warning)) continue;
      logged.add(warning);
      console.warn(`fastreg: warning: ${warning}`);
    }
  }
  return config;
}
