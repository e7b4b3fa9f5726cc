import type { EdgeConfig } from '../shared/edge-config.js';
import { formatSwarmKey } from '../shared/sidecars/swarm-key.js';

// Every key of the sidecar role comes from one edge secret, SIDECAR_KEY, by HKDF with its own label:
// the credential key never leaves the edge; the redirect key and the swarm key are handed to
// enrolled sidecars. Knowing those two does not help to mint credentials.

export interface SidecarKeys {
  credential: CryptoKey;
  redirect: Uint8Array;
  /** The libp2p swarm key file text (`/key/swarm/psk/1.0.0/`, base16). */
  swarmKey: string;
}

const cache = new WeakMap<EdgeConfig, Promise<SidecarKeys>>();

/** The derived keys, or undefined when SIDECAR_KEY is not configured (no sidecar role). */
export function sidecarKeys(config: EdgeConfig): Promise<SidecarKeys> | undefined {
  const secret = config.SIDECAR_KEY;
  if (secret === undefined) return undefined;
  let keys = cache.get(config);
  if (!keys) {
    keys = deriveKeys(secret);
    cache.set(config, keys);
  }
  return keys;
}

async function deriveKeys(secret: string): Promise<SidecarKeys> {
  const master = await crypto.subtle.importKey('raw', new TextEncoder().encode(secret), 'HKDF', false, ['deriveBits']);
  const derive = async (label: string) =>
    new Uint8Array(await crypto.subtle.deriveBits({ name: 'HKDF', hash: 'SHA-256', salt: new Uint8Array(0), info: new TextEncoder().encode(label) }, master, 256));
  const [credential, redirect, swarm] = await Promise.all([derive('fastreg sidecar credential'), derive('fastreg redirect signature'), derive('fastreg swarm key')]);
  return {
    credential: await crypto.subtle.importKey('raw', credential, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign', 'verify']),
    redirect,
    swarmKey: formatSwarmKey(swarm),
  };
}
