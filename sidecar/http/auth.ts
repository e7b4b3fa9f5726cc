import { createHash, timingSafeEqual } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';
import { OciError } from '../../workers/shared/oci/index.js';
import { PULL_EXPIRES_PARAM, PULL_SIGNATURE_PARAM, verifyPull } from '../../workers/shared/sidecars/auth.js';

const challenge = { 'WWW-Authenticate': 'Bearer realm="fastreg-sidecar"' };

/** Bearer guard for the bridge's writes; compares hashes so the time taken reveals nothing. */
export function requireToken(token: string | undefined): MiddlewareHandler {
  const expected = token === undefined ? undefined : createHash('sha256').update(token).digest();
  return async (c, next) => {
    if (!expected) throw new OciError('UNAUTHORIZED', 'writes need FASTREG_TOKEN, which this sidecar was started without', { headers: challenge });
    const match = /^Bearer\s+(\S+)$/i.exec(c.req.header('Authorization') ?? '');
    if (!match?.[1]) throw new OciError('UNAUTHORIZED', 'missing bearer token', { headers: challenge });
    if (!timingSafeEqual(createHash('sha256').update(match[1]).digest(), expected)) {
      throw new OciError('UNAUTHORIZED', 'invalid bearer token', { headers: challenge });
    }
    await next();
  };
}

const pullChallenge = { 'WWW-Authenticate': 'Bearer realm="fastreg-sidecar-pull"' };

/**
 * With pull tokens on at the edge, a blob is served only to a request carrying the edge's redirect
 * signature for this digest, repository and registry, unexpired. Loopback clients too: a build host
 * runs other tenants' jobs.
 */
export async function checkPullSignature(key: Uint8Array, claims: { digest: string; name: string | undefined; ns: string | undefined }, query: (name: string) => string | undefined): Promise<void> {
  const expires = query(PULL_EXPIRES_PARAM);
  const signature = query(PULL_SIGNATURE_PARAM);
  if (expires === undefined || signature === undefined || claims.name === undefined) {
    throw new OciError('UNAUTHORIZED', 'pulls need a token: follow the edge\'s redirect, which carries a signature', { headers: pullChallenge });
  }
  const valid = /^\d{1,12}$/.test(expires) && (await verifyPull(key, { digest: claims.digest, name: claims.name, ...(claims.ns && { ns: claims.ns }), expires: Number(expires) }, signature));
  if (!valid) throw new OciError('UNAUTHORIZED', 'the redirect signature is invalid or expired: ask the edge again', { headers: pullChallenge });
}
