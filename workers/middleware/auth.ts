import type { MiddlewareHandler } from 'hono';
import type { AppEnv } from '../app-env.js';
import { OciError } from '../oci/index.js';

export interface RequireTokenOptions {
  /** Let the request through without a token when this returns true (e.g. public pulls). */
  skip?: (config: AppEnv['Variables']['config']) => boolean;
  realm?: string;
}

/** Bearer-token guard for writes and coordination endpoints. The token is the FASTREG_TOKEN secret. */
export function requireToken({ skip, realm = 'fastreg' }: RequireTokenOptions = {}): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const config = c.get('config');
    if (skip?.(config)) return next();
    if (!config.FASTREG_TOKEN) {
      throw new OciError('UNAUTHORIZED', 'this endpoint needs FASTREG_TOKEN, which is not configured on the edge', { headers: challenge(realm) });
    }
    // Owner tokens name service-record owners; they do not open admin endpoints.
    if (!identifyBearer(config, c.req.header('Authorization'), realm).admin) throw new OciError('UNAUTHORIZED', 'invalid bearer token', { headers: challenge(realm) });
    await next();
  };
}

export function bearerToken(header: string | undefined): string | undefined {
  const match = /^Bearer\s+(\S+)$/i.exec(header ?? '');
  return match?.[1];
}

export function timingSafeEqual(a: string, b: string): boolean {
  const left = new TextEncoder().encode(a);
  const right = new TextEncoder().encode(b);
  let diff = left.length ^ right.length;
  for (let i = 0; i < Math.max(left.length, right.length); i++) diff |= (left[i] ?? 0) ^ (right[i] ?? 0);
  return diff === 0;
}

/** Who a bearer token belongs to: the admin (FASTREG_TOKEN) or a named owner (OWNER_TOKENS). */
export interface TokenIdentity {
  identity: string;
  admin: boolean;
}

/** Resolves the request's bearer token to an identity; throws UNAUTHORIZED (with a challenge) when it matches none. */
export function identifyBearer(config: AppEnv['Variables']['config'], authorization: string | undefined, realm = 'fastreg'): TokenIdentity {
  const presented = bearerToken(authorization);
  if (presented === undefined) throw new OciError('UNAUTHORIZED', 'missing bearer token', { headers: challenge(realm) });
  if (config.FASTREG_TOKEN !== undefined && timingSafeEqual(presented, config.FASTREG_TOKEN)) return { identity: 'admin', admin: true };
  let owner: string | undefined;
  // Compare against every token so the time taken does not reveal which owner matched.
  for (const [name, token] of Object.entries(config.OWNER_TOKENS ?? {})) {
    if (timingSafeEqual(presented, token)) owner = name;
  }
  if (owner !== undefined) return { identity: owner, admin: false };
  throw new OciError('UNAUTHORIZED', 'invalid bearer token', { headers: challenge(realm) });
}

function challenge(realm: string): Record<string, string> {
  return { 'WWW-Authenticate': `Bearer realm="${realm}"` };
}
