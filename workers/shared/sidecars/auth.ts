// The edge <-> sidecar contract for the sidecar role: enrollment and signed LAN redirects.
// Web-standard only (crypto.subtle), shared by the edge Worker and the Node sidecar.

/** POST here with the enrollment token and a request signed by the sidecar's libp2p key. */
export const ENROLL_PATH = '/sidecars/enroll';
/** An enrollment request signed more than this far from the edge's clock is refused (replays, skew). */
export const ENROLL_MAX_SKEW_MS = 5 * 60_000;
/** Query parameters of a signed redirect to a sidecar's `/v2/<name>/blobs/<digest>`. */
export const PULL_EXPIRES_PARAM = 'fastreg-expires';
export const PULL_SIGNATURE_PARAM = 'fastreg-signature';
/**
 * How long a signed redirect stays valid (seconds). It gates the start of a download only, and a
 * client that retries asks the edge again; the margin covers clock skew between edge and sidecar.
 */
export const PULL_SIGNATURE_TTL_SECONDS = 120;

export interface EnrollRequest {
  peerId: string;
  /** Milliseconds since the epoch, on the sidecar's clock. */
  issuedAt: number;
  /** base64url Ed25519 signature of enrollMessage(peerId, issuedAt) by the peer's key. */
  signature: string;
}

export interface EnrollResponse {
  /** The sidecar's bearer credential, bound to its peer ID. */
  credential: string;
  expiresAt: string;
  /** Service-records resource the sidecar registers in (the edge's SIDECAR_RESOURCE). */
  resource: string;
  /** "token": the sidecar serves blobs only to requests with a valid redirect signature. */
  pullAccess: 'public' | 'token';
  /** base64url key of the redirect signatures. */
  redirectKey: string;
  /** The libp2p swarm key (`/key/swarm/psk/1.0.0/` text) of the edge's private network. */
  swarmKey: string;
}

/** What the sidecar signs with its libp2p key to prove it holds the peer ID it enrolls as. */
export function enrollMessage(peerId: string, issuedAt: number): Uint8Array {
  return new TextEncoder().encode(`fastreg-enroll/1\n${peerId}\n${issuedAt}`);
}

/** What a signed redirect covers: one blob, of one repository of one registry, until a time. */
export interface PullClaims {
  digest: string;
  name: string;
  /** The `?ns=` registry, when the request named one. */
  ns?: string;
  /** Unix seconds. */
  expires: number;
}

export async function signPull(key: Uint8Array, claims: PullClaims): Promise<string> {
  const mac = await crypto.subtle.sign('HMAC', await hmacKey(key), pullMessage(claims));
  return toBase64Url(new Uint8Array(mac));
}

/** True when `signature` is the key's signature of the claims and they have not expired. */
export async function verifyPull(key: Uint8Array, claims: PullClaims, signature: string, nowSeconds = Date.now() / 1000): Promise<boolean> {
  if (!Number.isSafeInteger(claims.expires) || claims.expires < nowSeconds) return false;
  const mac = fromBase64Url(signature);
  if (!mac) return false;
  return crypto.subtle.verify('HMAC', await hmacKey(key), mac, pullMessage(claims));
}

/** The query string (without `?`) a redirect to a sidecar carries. */
export async function signedPullQuery(key: Uint8Array, claims: Omit<PullClaims, 'expires'>, nowSeconds = Date.now() / 1000): Promise<URLSearchParams> {
  const expires = Math.floor(nowSeconds) + PULL_SIGNATURE_TTL_SECONDS;
  const query = new URLSearchParams();
  if (claims.ns) query.set('ns', claims.ns);
  query.set(PULL_EXPIRES_PARAM, String(expires));
  query.set(PULL_SIGNATURE_PARAM, await signPull(key, { ...claims, expires }));
  return query;
}

function pullMessage(claims: PullClaims): Uint8Array<ArrayBuffer> {
  return new Uint8Array(new TextEncoder().encode(`fastreg-pull/1\n${claims.digest}\n${claims.ns ?? ''}\n${claims.name}\n${claims.expires}`));
}

function hmacKey(key: Uint8Array) {
  // A copy: the Web Crypto API takes bytes over an ArrayBuffer, not a possibly shared one.
  return crypto.subtle.importKey('raw', new Uint8Array(key), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign', 'verify']);
}

export function toBase64Url(bytes: Uint8Array): string {
  let text = '';
  for (const byte of bytes) text += String.fromCharCode(byte);
  return btoa(text).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/** Decodes base64url; undefined for anything else. */
export function fromBase64Url(text: string): Uint8Array<ArrayBuffer> | undefined {
  if (!/^[A-Za-z0-9_-]*$/.test(text) || text.length % 4 === 1) return undefined;
  const binary = atob(text.replace(/-/g, '+').replace(/_/g, '/'));
  return Uint8Array.from(binary, (char) => char.charCodeAt(0));
}
