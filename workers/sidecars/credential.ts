import { fromBase64Url, toBase64Url } from '../shared/sidecars/auth.js';

// A sidecar credential is stateless: `fsc1.<payload>.<mac>`, the payload {sub: peer ID, exp: unix
// seconds} and an HMAC-SHA256 over it with the edge's credential key. Nothing is stored per sidecar,
// so a fleet of any size costs the edge nothing; a credential dies by its expiry.

const PREFIX = 'fsc1.';

export interface SidecarCredential {
  peerId: string;
  expires: number;
}

export function looksLikeCredential(token: string): boolean {
  return token.startsWith(PREFIX);
}

export async function mintCredential(key: CryptoKey, credential: SidecarCredential): Promise<string> {
  const payload = toBase64Url(new TextEncoder().encode(JSON.stringify({ sub: credential.peerId, exp: credential.expires })));
  const mac = new Uint8Array(await crypto.subtle.sign('HMAC', key, new TextEncoder().encode(payload)));
  return `${PREFIX}${payload}.${toBase64Url(mac)}`;
}

/** The credential's claims when its MAC is good and it has not expired; otherwise undefined. */
export async function verifyCredential(key: CryptoKey, token: string, nowSeconds = Date.now() / 1000): Promise<SidecarCredential | undefined> {
  if (!looksLikeCredential(token) || token.length > 1024) return undefined;
  const [payload, macText, extra] = token.slice(PREFIX.length).split('.');
  const mac = fromBase64Url(macText ?? '');
  if (payload === undefined || !mac || extra !== undefined) return undefined;
  if (!(await crypto.subtle.verify('HMAC', key, mac, new TextEncoder().encode(payload)))) return undefined;
  let claims: { sub?: unknown; exp?: unknown };
  try {
    claims = JSON.parse(new TextDecoder().decode(fromBase64Url(payload))) as typeof claims;
  } catch {
    return undefined;
  }
  if (typeof claims.sub !== 'string' || typeof claims.exp !== 'number' || claims.exp < nowSeconds) return undefined;
  return { peerId: claims.sub, expires: claims.exp };
}
