import { createHash, randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';

const HEADER = '/key/swarm/psk/1.0.0/';
const KEY_BYTES = 32;

/** A swarm's 32-byte secret: only nodes holding it can connect to each other. */
export type SwarmKey = Uint8Array;

/**
 * The secret of a libp2p swarm key text (`/key/swarm/psk/1.0.0/`, then `/base16/` or `/base64/`, then
 * the key), as written by `fastreg sidecar --new-psk`, by the edge at enrollment, and by ipfs tools.
 */
export function parseSwarmKey(text: string): SwarmKey {
  const [header, encoding, value = ''] = text.trim().split(/\r?\n/).map((line) => line.trim());
  if (header !== HEADER) throw new Error(`not a ${HEADER} swarm key`);
  const bytes =
    encoding === '/base16/' && /^[0-9a-fA-F]*$/.test(value) ? Buffer.from(value, 'hex') : encoding === '/base64/' ? Buffer.from(value, 'base64') : undefined;
  if (!bytes) throw new Error(`swarm key encoding ${encoding ?? '(none)'} is not /base16/ or /base64/`);
  if (bytes.byteLength !== KEY_BYTES) throw new Error(`a swarm key has ${KEY_BYTES} bytes, this one ${bytes.byteLength}`);
  return new Uint8Array(bytes);
}

/** Reads a swarm key file; a clear error when it is missing or malformed. */
export async function readSwarmKey(path: string): Promise<SwarmKey> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new Error(`cannot read PSK file ${path}: ${(err as Error).message} (create one with \`fastreg sidecar --new-psk ${path}\`)`);
  }
  try {
    return parseSwarmKey(text);
  } catch (err) {
    throw new Error(`PSK file ${path}: ${(err as Error).message}`);
  }
}

/** The key as swarm key file text (base16), which `parseSwarmKey` reads back. */
export function formatSwarmKey(key: SwarmKey): string {
  return `${HEADER}\n/base16/\n${Buffer.from(key).toString('hex')}\n`;
}

export async function writeNewSwarmKey(path: string): Promise<void> {
  await writeFile(path, formatSwarmKey(randomBytes(KEY_BYTES)), { mode: 0o600, flag: 'wx' });
}

/**
 * The Noise prologue of a private swarm. Both ends mix the prologue into the handshake hash, which
 * authenticates every encrypted handshake message: a peer without the key fails the handshake at its
 * first encrypted message and never gets a connection. This replaces libp2p's pnet protector, which
 * encrypted every byte a second time with a JavaScript XSalsa20 (measured here: 444 MB/s, each way).
 */
export function swarmPrologue(key: SwarmKey): Uint8Array {
  return new Uint8Array(createHash('sha256').update('fastreg swarm prologue v1\0').update(key).digest());
}
