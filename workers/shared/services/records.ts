import { z } from 'zod';

// Wire format of service records: what clients send (validated by the edge route) and what they get back.
// Unknown fields are rejected everywhere (`.strict()`); free-form data has one explicit home, `info.extra`
// (a flat map of scalars).

/** Resource names: 1-63 lowercase characters, like a DNS label with dots and underscores allowed inside. */
export const RESOURCE_NAME = /^[a-z0-9](?:[a-z0-9._-]{0,61}[a-z0-9])?$/;
/** Service ids: 1-128 characters; mixed case so libp2p peer IDs fit. */
export const SERVICE_ID = /^[A-Za-z0-9](?:[A-Za-z0-9._:-]{0,126}[A-Za-z0-9])?$/;
/** Tags share the resource grammar, up to 64 characters. */
const TAG = /^[a-z0-9](?:[a-z0-9._:-]{0,62}[a-z0-9])?$/;
const DIGEST_LIKE = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]{16,200}$/;

/** Largest JSON body accepted for a record or resource. */
export const MAX_RECORD_BYTES = 16 * 1024;
export const MIN_TTL_SECONDS = 1;
export const MAX_TTL_SECONDS = 7 * 24 * 3600;
export const DEFAULT_TTL_SECONDS = 60;
export const MAX_PAGE = 500;
export const DEFAULT_PAGE = 100;
export const MAX_SEARCH = 200;
export const DEFAULT_SEARCH = 20;

/** The classic ServiceInfo fields, plus `extra` for anything else. */
export const serviceInfoSchema = z
  .object({
    contentHash: z.string().regex(DIGEST_LIKE, 'must look like algorithm:hash').optional(),
    dockerImageHash: z.string().regex(DIGEST_LIKE, 'must look like sha256:hex').optional(),
    rttSoftMs: z.number().nonnegative().max(600_000).optional(),
    rttHardMs: z.number().nonnegative().max(600_000).optional(),
    cpu: z.number().positive().max(4096).describe('CPU cores (may be fractional)').optional(),
    memoryMb: z.number().int().positive().max(1 << 30).optional(),
    /** Anything else, as a flat map of scalars (nested data would make records unboundedly deep). */
    extra: z.record(z.string().min(1).max(64), z.union([z.string().max(1024), z.number(), z.boolean(), z.null()])).optional(),
  })
  .strict()
  .refine((info) => info.rttSoftMs === undefined || info.rttHardMs === undefined || info.rttSoftMs <= info.rttHardMs, {
    message: 'rttSoftMs must not exceed rttHardMs',
    path: ['rttSoftMs'],
  });

export const recordInputSchema = z
  .object({
    name: z.string().min(1).max(128),
    version: z.string().min(1).max(64).optional(),
    description: z.string().max(1024).optional(),
    endpoint: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }).max(2048).optional(),
    peerId: z.string().regex(/^[A-Za-z0-9]{16,128}$/, 'must be a base58/base32 peer ID').optional(),
    multiaddrs: z.array(z.string().startsWith('/').max(512)).max(32).optional(),
    info: serviceInfoSchema.optional(),
    tags: z.array(z.string().regex(TAG, 'tags are 1-64 lowercase characters of [a-z0-9._:-]')).max(32).optional(),
    category: z.string().regex(TAG, 'category is 1-64 lowercase characters of [a-z0-9._:-]').optional(),
    ttlSeconds: z.number().int().min(MIN_TTL_SECONDS).max(MAX_TTL_SECONDS).optional(),
  })
  .strict();

export type RecordInput = z.output<typeof recordInputSchema>;
export type ServiceInfo = z.output<typeof serviceInfoSchema>;

export const resourceInputSchema = z.object({ description: z.string().max(1024).optional() }).strict();
export type ResourceInput = z.output<typeof resourceInputSchema>;

/** A stored record as the API returns it. */
export interface ServiceRecord {
  resource: string;
  id: string;
  name: string;
  version?: string;
  description?: string;
  endpoint?: string;
  peerId?: string;
  multiaddrs: string[];
  info: ServiceInfo;
  tags: string[];
  category?: string;
  ttlSeconds: number;
  owner: string;
  /** The client address the edge saw on the last write (sidecar site detection). */
  observedIp?: string;
  createdAt: string;
  updatedAt: string;
  expiresAt: string;
}

export interface ResourceInfo {
  name: string;
  owner: string;
  description?: string;
  createdAt: string;
  records: number;
}

export interface SearchHit {
  score: number;
  record: ServiceRecord;
}

export type ServiceEventType = 'add' | 'update' | 'delete' | 'expire';

export interface ServiceEvent {
  type: ServiceEventType;
  resource: string;
  id: string;
  /** Present on add and update; the last known record on delete and expire. */
  record: ServiceRecord;
  at: string;
}

/** Who is calling: the admin (FASTREG_TOKEN) or a named owner (OWNER_TOKENS). */
export interface Actor {
  identity: string;
  admin: boolean;
}
