import type { Context, MiddlewareHandler } from 'hono';
import { Hono } from 'hono';
import type { z } from 'zod';
import type { RegistryResult } from '../../durable-objects/service-registry.js';
import {
  DEFAULT_PAGE,
  DEFAULT_SEARCH,
  MAX_PAGE,
  MAX_RECORD_BYTES,
  MAX_SEARCH,
  RESOURCE_NAME,
  SERVICE_ID,
  recordInputSchema,
  resourceInputSchema,
  type ResourceInfo,
} from '../shared/services/records.js';
import type { AppEnv } from '../app-env.js';
import type { TokenIdentity } from '../middleware/auth.js';
import { identifyBearer } from '../middleware/auth.js';
import { OciError } from '../shared/oci/index.js';
import { isKnownResource, rememberResource, resourceIndex } from './known-resources.js';
import { readBounded } from '../shared/http/read-bounded.js';

// Service records API. One Durable Object per resource holds its records; the `_index` object lists
// resources, and reads of a resource it does not list are answered without the resource's object.
// Search, list and watch are per resource (a resource is the unit of discovery, e.g. one per service
// tag or site), so no request fans out across objects.

interface ServicesEnv {
  Bindings: AppEnv['Bindings'];
  Variables: AppEnv['Variables'] & { actor: TokenIdentity };
}
type Ctx = Context<ServicesEnv>;

const REALM = 'fastreg-services';

export function serviceRoutes(): Hono<ServicesEnv> {
  const app = new Hono<ServicesEnv>();
  const read = readAccess();
  const write = writeAccess();

  app.get('/', read, async (c) => {
    const page = await index(c).listResources(limitParam(c, DEFAULT_PAGE, MAX_PAGE), cursorParam(c, RESOURCE_NAME));
    return c.json({ resources: page.items, ...withCursor(page.nextCursor) });
  });

  app.put('/:resource', write, async (c) => {
    const name = resourceParam(c);
    const input = parse(resourceInputSchema, await readJson(c));
    const { resource, created } = unwrap(await registry(c, name).putResource(name, input, c.get('actor')));
    await indexResource(c, resource);
    return c.json(resource, created ? 201 : 200);
  });

  app.get('/:resource', read, async (c) => {
    const name = resourceParam(c);
    const resource = (await known(c, name)) ? await registry(c, name).getResource() : null;
    if (!resource) throw new OciError('NAME_UNKNOWN', `no resource "${name}"`);
    return c.json(resource);
  });

  app.get('/:resource/records', read, async (c) => {
    const name = resourceParam(c);
    const limit = limitParam(c, DEFAULT_PAGE, MAX_PAGE);
    const cursor = cursorParam(c, SERVICE_ID);
    const page = (await known(c, name)) ? await registry(c, name).listRecords(limit, cursor) : { items: [] };
    return c.json({ records: page.items, ...withCursor(page.nextCursor) });
  });

  app.put('/:resource/records/:id', write, async (c) => {
    const name = resourceParam(c);
    const id = idParam(c);
    const input = parse(recordInputSchema, await readJson(c));
    const observedIp = c.req.header('CF-Connecting-IP');
    const result = unwrap(await registry(c, name).putRecord(name, id, input, c.get('actor'), observedIp));
    // Listed in the index until that succeeds once: a failure here is healed by the next write.
    if (result.resourceToIndex) await indexResource(c, result.resourceToIndex);
    return c.json(result.record, result.created ? 201 : 200);
  });

  app.get('/:resource/records/:id', read, async (c) => {
    const name = resourceParam(c);
    const id = idParam(c);
    const record = (await known(c, name)) ? await registry(c, name).getRecord(id) : null;
    if (!record) throw new OciError('NOT_FOUND', `no record "${id}" in "${name}"`);
    return c.json(record);
  });

  app.delete('/:resource/records/:id', write, async (c) => {
    const name = resourceParam(c);
    const record = unwrap(await registry(c, name).deleteRecord(idParam(c), c.get('actor')));
    return c.json({ deleted: record });
  });

  app.post('/:resource/records/:id/heartbeat', write, async (c) => {
    const name = resourceParam(c);
    return c.json(unwrap(await registry(c, name).heartbeat(idParam(c), c.get('actor'), c.req.header('CF-Connecting-IP'))));
  });

  app.get('/:resource/search', read, async (c) => {
    const name = resourceParam(c);
    const q = c.req.query('q');
    if (q !== undefined && q.length > 256) throw new OciError('INVALID_REQUEST', 'q is longer than 256 characters');
    const tags = (c.req.query('tags') ?? '').split(',').map((t) => t.trim()).filter(Boolean);
    if (tags.length > 32) throw new OciError('INVALID_REQUEST', 'at most 32 tags');
    const category = c.req.query('category') || undefined;
    const limit = limitParam(c, DEFAULT_SEARCH, MAX_SEARCH);
    if (!(await known(c, name))) return c.json({ hits: [] });
    const hits = await registry(c, name).search({ ...(q !== undefined && { q }), tags, ...(category !== undefined && { category }), limit });
    return c.json({ hits });
  });

  // A watch may start before the resource exists (it waits for the first record), so it goes to the
  // resource's object, which stores nothing until a write.
  app.get('/:resource/watch', read, async (c) => {
    const name = resourceParam(c);
    return registry(c, name).fetch('https://service-registry/watch', { signal: c.req.raw.signal });
  });

  return app;
}

function registry(c: Ctx, resource: string) {
  return c.env.SERVICE_REGISTRY.getByName(resource);
}

function index(c: Ctx) {
  return resourceIndex(c.env.SERVICE_REGISTRY);
}

function known(c: Ctx, resource: string): Promise<boolean> {
  return isKnownResource(c.env.SERVICE_REGISTRY, resource);
}

/** Lists the resource in the index; until that succeeds, reads answer as if it did not exist and its next write retries. */
async function indexResource(c: Ctx, resource: Omit<ResourceInfo, 'records'>): Promise<void> {
  await index(c).indexResource(resource);
  await registry(c, resource.name).markIndexed();
  rememberResource(resource.name);
}

function writeAccess(): MiddlewareHandler<ServicesEnv> {
  return async (c, next) => {
    const actor = await identifyBearer(c.get('config'), c.req.header('Authorization'), REALM);
    // A sidecar may write one record only: its own (id = its peer ID) in SIDECAR_RESOURCE.
    if (actor.role === 'sidecar' && (c.req.param('resource') !== c.get('config').SIDECAR_RESOURCE || c.req.param('id') !== actor.peerId)) {
      throw new OciError('DENIED', `a sidecar credential may write only /services/${c.get('config').SIDECAR_RESOURCE}/records/${actor.peerId}`);
    }
    // The sidecars' resource belongs to them and the admin: an owner could otherwise squat a peer ID before that sidecar registers.
    if (actor.role === 'owner' && c.req.param('resource') === c.get('config').SIDECAR_RESOURCE) {
      throw new OciError('DENIED', `/services/${c.get('config').SIDECAR_RESOURCE} is written by sidecars and the admin only`);
    }
    c.set('actor', actor);
    await next();
  };
}

function readAccess(): MiddlewareHandler<ServicesEnv> {
  return async (c, next) => {
    if (c.get('config').SERVICES_READ_ACCESS === 'token') {
      const actor = await identifyBearer(c.get('config'), c.req.header('Authorization'), REALM);
      if (actor.role === 'sidecar') throw new OciError('DENIED', 'a sidecar credential may not read service records');
      c.set('actor', actor);
    }
    await next();
  };
}

function unwrap<T>(result: RegistryResult<T>): T {
  if (result.ok) return result.value;
  throw new OciError(result.code, result.message);
}

function resourceParam(c: Ctx): string {
  const name = c.req.param('resource') ?? '';
  if (!RESOURCE_NAME.test(name)) {
    throw new OciError('NAME_INVALID', `invalid resource name "${name.slice(0, 80)}": 1-63 characters of [a-z0-9._-], starting and ending with a letter or digit`);
  }
  return name;
}

function idParam(c: Ctx): string {
  const id = c.req.param('id') ?? '';
  if (!SERVICE_ID.test(id)) {
    throw new OciError('NAME_INVALID', `invalid service id "${id.slice(0, 80)}": 1-128 characters of [A-Za-z0-9._:-], starting and ending with a letter or digit`);
  }
  return id;
}

function limitParam(c: Ctx, fallback: number, max: number): number {
  const raw = c.req.query('limit');
  if (raw === undefined || raw === '') return fallback;
  const limit = Number(raw);
  if (!Number.isInteger(limit) || limit < 1 || limit > max) throw new OciError('INVALID_REQUEST', `limit must be an integer from 1 to ${max}`);
  return limit;
}

/** Cursors are the last key of the previous page, base64url-encoded so clients treat them as opaque. */
function cursorParam(c: Ctx, grammar: RegExp): string | undefined {
  const raw = c.req.query('cursor');
  if (raw === undefined || raw === '') return undefined;
  let key: string;
  try {
    key = atob(raw.replace(/-/g, '+').replace(/_/g, '/'));
  } catch {
    throw new OciError('INVALID_REQUEST', 'invalid cursor');
  }
  if (!grammar.test(key)) throw new OciError('INVALID_REQUEST', 'invalid cursor');
  return key;
}

function withCursor(key: string | undefined): { nextCursor?: string } {
  return key === undefined ? {} : { nextCursor: btoa(key).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '') };
}

/** Reads a JSON body of at most MAX_RECORD_BYTES without trusting Content-Length. */
async function readJson(c: Ctx): Promise<unknown> {
  const tooLarge = () => new OciError('PAYLOAD_TOO_LARGE', `request body is larger than ${MAX_RECORD_BYTES} bytes`);
  const declared = Number(c.req.header('Content-Length') ?? '0');
  if (declared > MAX_RECORD_BYTES) throw tooLarge();
  const body = c.req.raw.body;
  if (!body) throw new OciError('INVALID_REQUEST', 'a JSON request body is required');
  const bytes = await readBounded(body, MAX_RECORD_BYTES, { tooLarge });
  try {
    return JSON.parse(new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(bytes)) as unknown;
  } catch {
    throw new OciError('INVALID_REQUEST', 'request body is not valid JSON');
  }
}

function parse<S extends z.ZodType>(schema: S, value: unknown): z.output<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issues = result.error.issues.map((issue) => `${issue.path.join('.') || '(body)'}: ${issue.message}`);
  throw new OciError('INVALID_REQUEST', `invalid body: ${issues.slice(0, 5).join('; ')}`, { detail: issues });
}
