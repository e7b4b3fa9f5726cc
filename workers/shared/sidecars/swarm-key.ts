// The libp2p swarm key text (`/key/swarm/psk/1.0.0/`): what the edge hands enrolled sidecars and what
// a `--psk-file` holds. One format for both sides of the contract. Web-standard only.

import { toHex } from '../oci/index.js';

const HEADER = '/key/swarm/psk/1.0.0/';
/** The length of a swarm's secret. */
export const SWARM_KEY_BYTES = 32;

/** A swarm's 32-byte secret: only nodes holding it can connect to each other. */
export type SwarmKey = Uint8Array;

/** The key as swarm key text (base16, no trailing newline), which `parseSwarmKey` reads back. */
export function formatSwarmKey(key: SwarmKey): string {
  return `${HEADER}\n/base16/\n${toHex(key)}`;
}

/**
 * The secret of a swarm key text (`/key/swarm/psk/1.0.0/`, then `/base16/` or `/base64/`, then the
 * key), as written by `fastreg sidecar --new-psk`, by the edge at enrollment, and by ipfs tools.
 */
export function parseSwarmKey(text: string): SwarmKey {
  const [header, encoding, value = ''] = text.trim().split(/\r?\n/).map((line) => line.trim());
  if (header !== HEADER) throw new Error(`not a ${HEADER} swarm key`);
  const bytes = encoding === '/base16/' ? fromHex(value) : encoding === '/base64/' ? fromBase64(value) : undefined;
  if (!bytes) throw new Error(`swarm key encoding ${encoding ?? '(none)'} is not /base16/ or /base64/`);
  if (bytes.byteLength !== SWARM_KEY_BYTES) throw new Error(`a swarm key has ${SWARM_KEY_BYTES} bytes, this one ${bytes.byteLength}`);
  return bytes;
}

function fromHex(value: string): Uint8Array | undefined {
  if (!/^(?:[0-9a-fA-F]{2})*$/.test(value)) return undefined;
  return Uint8Array.from(value.match(/../g) ?? [], (pair) => parseInt(pair, 16));
}

function fromBase64(value: string): Uint8Array | undefined {
  try {
    return Uint8Array.from(atob(value), (char) => char.charCodeAt(0));
  } catch {
    return undefined;
  }
}
