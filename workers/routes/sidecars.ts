import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { z } from 'zod';
import type { AppEnv } from '../app-env.js';
import { bearerToken, timingSafeEqual } from '../middleware/auth.js';
import { OciError } from '../shared/oci/index.js';
import { ENROLL_MAX_SKEW_MS, enrollMessage, fromBase64Url, toBase64Url, type EnrollResponse } from '../shared/sidecars/auth.js';
import { mintCredential } from '../sidecars/credential.js';
import { sidecarKeys } from '../sidecars/keys.js';
import { verifyPeerSignature } from '../sidecars/peer-key.js';

// POST /sidecars/enroll: the fleet's shared SIDECAR_ENROLL_TOKEN plus a request signed with the
// sidecar's libp2p key buys a short-lived credential for that peer ID only, the redirect key and the
// swarm key. The edge keeps no state per sidecar.

const REALM = 'fastreg-sidecars';

const enrollSchema = z
  .object({
    peerId: z.string().min(1).max(128),
    issuedAt: z.number().int().nonnegative(),
    signature: z.string().min(1).max(256),
  })
  .strict();

export function sidecarRoutes(): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.post(
    '/enroll',
    bodyLimit({
      maxSize: 4096,
      onError: () => {
        throw new OciError('PAYLOAD_TOO_LARGE', 'an enrollment request is at most 4096 bytes');
      },
    }),
    async (c) => {
      const config = c.get('config');
      const keys = sidecarKeys(config);
      if (config.SIDECAR_ENROLL_TOKEN === undefined || !keys) {
        throw new OciError('UNAUTHORIZED', 'this edge has no sidecar enrollment (SIDECAR_ENROLL_TOKEN is not configured)', { headers: challenge() });
      }
      const presented = bearerToken(c.req.header('Authorization'));
      if (presented === undefined || !timingSafeEqual(presented, config.SIDECAR_ENROLL_TOKEN)) {
        throw new OciError('UNAUTHORIZED', presented === undefined ? 'missing enrollment token' : 'invalid enrollment token', { headers: challenge() });
      }
      let body: unknown;
      try {
        body = await c.req.json();
      } catch {
        throw new OciError('INVALID_REQUEST', 'request body must be JSON');
      }
      const parsed = enrollSchema.safeParse(body);
      if (!parsed.success) throw new OciError('INVALID_REQUEST', `invalid enrollment request: ${parsed.error.issues[0]?.path.join('.')}: ${parsed.error.issues[0]?.message}`);
      const { peerId, issuedAt, signature } = parsed.data;
      if (Math.abs(Date.now() - issuedAt) > ENROLL_MAX_SKEW_MS) {
        throw new OciError('UNAUTHORIZED', `the enrollment request was signed at ${new Date(issuedAt).toISOString()}, more than ${ENROLL_MAX_SKEW_MS / 60_000} minutes from the edge's clock`);
      }
      const signatureBytes = fromBase64Url(signature);
      if (!signatureBytes || !(await verifyPeerSignature(peerId, enrollMessage(peerId, issuedAt), signatureBytes))) {
        throw new OciError('UNAUTHORIZED', 'the signature does not prove the Ed25519 key of that peer ID');
      }
      const derived = await keys;
      const expires = Math.floor(Date.now() / 1000) + config.SIDECAR_CREDENTIAL_TTL_SECONDS;
      const answer: EnrollResponse = {
        credential: await mintCredential(derived.credential, { peerId, expires }),
        expiresAt: new Date(expires * 1000).toISOString(),
        resource: config.SIDECAR_RESOURCE,
        pullAccess: config.PULL_ACCESS,
        redirectKey: toBase64Url(derived.redirect),
        swarmKey: derived.swarmKey,
      };
      return c.json(answer, 200, { 'Cache-Control': 'no-store' });
    },
  );
  return app;
}

function challenge(): Record<string, string> {
  return { 'WWW-Authenticate': `Bearer realm="${REALM}"` };
}
