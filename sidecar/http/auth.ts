import { createHash, timingSafeEqual } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';
import { OciError } from '../../workers/oci/index.js';

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
