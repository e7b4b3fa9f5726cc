import type { Context, MiddlewareHandler } from 'hono';
import type { AppEnv } from '../app-env.js';
import { OciError } from '../shared/oci/index.js';
import { looksLikeCredential, verifyCredential } from '../sidecars/credential.js';
import { sidecarKeys } from '../sidecars/keys.js';

export interface RequireTokenOptions {
  /** Let the request through without a token when this returns true (e.g. public pulls). */
  skip?: (config: AppEnv['Variables']['config']) => boolean;
  /** Let a sidecar credential through when this returns true (e.g. blob pulls); otherwise it gets 403. */
  sidecar?: (c: Context<AppEnv>) => boolean;
  realm?: string;
}

/** Bearer-token guard for writes and coordination endpoints: the admin (FASTREG_TOKEN), and sidecars where `sidecar` allows. */
export function requireToken({ skip, sidecar, realm = 'fastreg' }: RequireTokenOptions = {}): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const config = c.get('config');
    if (skip?.(config)) return next();
    if (!config.FASTREG_TOKEN && !config.SIDECAR_KEY) {
      throw new OciError('UNAUTHORIZED', 'this endpoint needs FASTREG_TOKEN, which is not configured on the edge', { headers: challenge(realm) });
    }
    const actor = await identifyBearer(config, c.req.header('Authorization'), realm);
    if (actor.role === 'sidecar') {
      if (sidecar?.(c)) return next();
      throw new OciError('DENIED', 'a sidecar credential may not use this endpoint');
    }
    // Owner tokens name service-record owners; they do not open admin endpoints.
    if (!actor.admin) throw new OciError('UNAUTHORIZED', 'invalid bearer token', { headers: challenge(realm) });
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

/**
 * Who a bearer token belongs to: the admin (FASTREG_TOKEN), a named owner (OWNER_TOKENS), or an
 * enrolled sidecar (a credential from POST /sidecars/enroll, bound to its libp2p peer ID).
 */
export interface TokenIdentity {
  /** "admin", the owner's name, or `sidecar:<peer ID>` (a name no owner can have). */
  identity: string;
  admin: boolean;
  role: 'admin' | 'owner' | 'sidecar';
  peerId?: string;
}

/** Resolves the request's bearer token to an identity; throws UNAUTHORIZED (with a challenge) when it matches none. */
export async function identifyBearer(config: AppEnv['Variables']['config'], authorization: string | undefined, realm = 'fastreg'): Promise<TokenIdentity> {
  const presented = bearerToken(authorization);
  if (presented === undefined) throw new OciError('UNAUTHORIZED', 'missing bearer token', { headers: challenge(realm) });
  if (config.FASTREG_TOKEN !== undefined && timingSafeEqual(presented, config.FASTREG_TOKEN)) return { identity: 'admin', admin: true, role: 'admin' };
  let owner: string | undefined;
  // Compare against every token so the time taken does not reveal which owner matched.
  for (const [name, token] of Object.entries(config.OWNER_TOKENS ?? {})) {
    if (timingSafeEqual(presented, token)) owner = name;
  }
  if (owner !== undefined) return { identity: owner, admin: false, role: 'owner' };
  const keys = sidecarKeys(config);
  if (keys && looksLikeCredential(presented)) {
    const credential = await verifyCredential((await keys).credential, presented);
    if (!credential) throw new OciError('UNAUTHORIZED', 'invalid or expired sidecar credential', { headers: challenge(realm) });
    return { identity: `sidecar:${credential.peerId}`, admin: false, role: 'sidecar', peerId: credential.peerId };
  }
  throw new OciError('UNAUTHORIZED', 'invalid bearer token', { headers: challenge(realm) });
}

function challenge(realm: string): Record<string, string> {
  return { 'WWW-Authenticate': `Bearer realm="${realm}"` };
}
