import type { Context } from 'hono';
import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { z } from 'zod';
import { MAX_HOLDER_NAME } from '../../durable-objects/constants.js';
import {
  LEASE_BATCH_MAX_KEYS,
  LEASE_KEY_MAX_LENGTH,
  LEASE_METADATA_MAX_BYTES,
  LEASE_PROTOCOL_VERSION,
  LEASE_VALUE_MAX_LENGTH,
} from '../shared/leases/batch-api.js';
import { LeaseShardClient } from '../../durable-objects/lease-shard-client.js';
import type { AppEnv } from '../app-env.js';
import { requireToken } from '../middleware/auth.js';
import { OciError } from '../shared/oci/index.js';

// Batch lease API for external workers (block dedupe): can-offload, register, match-prefix, stats.
// Keys are sharded over a fixed set of LeaseShard objects. A request is validated as a whole before
// any shard is touched, so bad input changes nothing.

const MAX_BODY_BYTES = 4 * 1024 * 1024;

const key = z.string().min(1, 'keys must be non-empty strings').max(LEASE_KEY_MAX_LENGTH);
const keys = z.array(key).min(1).max(LEASE_BATCH_MAX_KEYS, `at most ${LEASE_BATCH_MAX_KEYS} keys per request`);
const metadata = z
  .record(z.string(), z.unknown())
  .refine((value) => JSON.stringify(value).length <= LEASE_METADATA_MAX_BYTES, `metadata is limited to ${LEASE_METADATA_MAX_BYTES} bytes of JSON`);

const canOffloadSchema = z.object({ version: z.number(), keys, holder: z.string().min(1).max(MAX_HOLDER_NAME) }).strict();
const registerSchema = z
  .object({
    version: z.number(),
    entries: z
      .array(
        z
          .object({
            key,
            parent: key.optional(),
            value: z.string().max(LEASE_VALUE_MAX_LENGTH).optional(),
            size: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).optional(),
            metadata: metadata.optional(),
          })
          .strict()
          .refine((entry) => entry.parent !== entry.key, { message: 'a key cannot be its own parent', path: ['parent'] }),
      )
      .min(1)
      .max(LEASE_BATCH_MAX_KEYS, `at most ${LEASE_BATCH_MAX_KEYS} entries per request`),
  })
  .strict();
const matchPrefixSchema = z.object({ version: z.number(), keys }).strict();

export function leaseRoutes(): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.use('*', requireToken({ realm: 'fastreg-leases' }));
  app.use(
    '*',
    bodyLimit({
      maxSize: MAX_BODY_BYTES,
      onError: () => {
        throw new OciError('PAYLOAD_TOO_LARGE', `request body is limited to ${MAX_BODY_BYTES} bytes`);
      },
    }),
  );

  app.post('/can-offload', async (c) => {
    const body = await readRequest(c, canOffloadSchema);
    const results = await shards(c).canOffload(body.keys, body.holder);
    return c.json({ version: LEASE_PROTOCOL_VERSION, results: results.map((result, i) => ({ key: body.keys[i], ...result })) });
  });

  app.post('/register', async (c) => {
    const body = await readRequest(c, registerSchema);
    const result = await shards(c).register(body.entries);
    return c.json({ version: LEASE_PROTOCOL_VERSION, ...result });
  });

  app.post('/match-prefix', async (c) => {
    const body = await readRequest(c, matchPrefixSchema);
    const match = await shards(c).matchPrefix(body.keys);
    return c.json({ version: LEASE_PROTOCOL_VERSION, ...match });
  });

  app.get('/stats', async (c) => c.json({ version: LEASE_PROTOCOL_VERSION, ...(await shards(c).stats()) }));

  return app;
}

const shards = (c: Context<AppEnv>) => new LeaseShardClient(c.env.LEASE_SHARD);

/** Parses and validates the JSON body; checks the protocol version first so its error is the one reported. */
async function readRequest<T extends z.ZodType<{ version: number }>>(c: Context<AppEnv>, schema: T): Promise<z.output<T>> {
  let body: unknown;
  try {
    body = await c.req.json();
  } catch {
    throw new OciError('INVALID_REQUEST', 'request body must be JSON');
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new OciError('INVALID_REQUEST', 'request body must be a JSON object');
  const version = (body as { version?: unknown }).version;
  if (version === undefined) throw new OciError('INVALID_REQUEST', `"version" is required; this edge speaks lease protocol version ${LEASE_PROTOCOL_VERSION}`);
  if (version !== LEASE_PROTOCOL_VERSION) {
    throw new OciError('INVALID_REQUEST', `unsupported lease protocol version ${JSON.stringify(version).slice(0, 40)}; this edge speaks version ${LEASE_PROTOCOL_VERSION}`, {
      detail: { supported: [LEASE_PROTOCOL_VERSION] },
    });
  }
  const result = schema.safeParse(body);
  if (!result.success) {
    const issues = result.error.issues.slice(0, 20).map((issue) => ({ path: issue.path.join('.'), message: issue.message }));
    throw new OciError('INVALID_REQUEST', `invalid request: ${issues[0]?.path || '(body)'}: ${issues[0]?.message}`, { detail: { issues } });
  }
  return result.data;
}
