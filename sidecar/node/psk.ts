import { generateKey } from '@libp2p/pnet';
import { readFile, writeFile } from 'node:fs/promises';

/** Reads a libp2p swarm key (`/key/swarm/psk/1.0.0/` format); a clear error when it is missing or malformed. */
export async function readSwarmKey(path: string): Promise<Uint8Array> {
  let text: Buffer;
  try {
    text = await readFile(path);
  } catch (err) {
    throw new Error(`cannot read PSK file ${path}: ${(err as Error).message} (create one with \`fastreg sidecar --new-psk ${path}\`)`);
  }
  if (!text.toString('utf8').startsWith('/key/swarm/psk/1.0.0/')) {
    throw new Error(`PSK file ${path} is not a /key/swarm/psk/1.0.0/ swarm key`);
  }
  return text;
}

export async function writeNewSwarmKey(path: string): Promise<void> {
  const key = new Uint8Array(95);
  generateKey(key);
  await writeFile(path, key, { mode: 0o600, flag: 'wx' });
}
