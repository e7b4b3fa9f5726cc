import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readSwarmKey, swarmPrologue, writeNewSwarmKey } from '../../sidecar/node/swarm-key.js';
import { formatSwarmKey, parseSwarmKey } from '../../workers/shared/sidecars/swarm-key.js';
import { makeTempDir, removeDir } from '../helpers/sidecar-cluster.js';

describe('swarm keys', () => {
  it('reads the /key/swarm/psk/1.0.0/ text in base16 and base64, and the files --new-psk writes', async () => {
    const secret = randomBytes(32);
    expect(parseSwarmKey(`/key/swarm/psk/1.0.0/\n/base16/\n${secret.toString('hex')}`)).toEqual(new Uint8Array(secret));
    expect(parseSwarmKey(formatSwarmKey(secret))).toEqual(new Uint8Array(secret));
    expect(parseSwarmKey(`/key/swarm/psk/1.0.0/\r\n/base64/\r\n${secret.toString('base64')}\r\n`)).toEqual(new Uint8Array(secret));
    const dir = await makeTempDir('swarm-key');
    try {
      const path = join(dir, 'swarm.key');
      await writeNewSwarmKey(path);
      expect(await readFile(path, 'utf8')).toMatch(/^\/key\/swarm\/psk\/1\.0\.0\/\n\/base16\/\n[0-9a-f]{64}\n$/);
      expect((await readSwarmKey(path)).byteLength).toBe(32);
      await expect(writeNewSwarmKey(path)).rejects.toThrow(/EEXIST/);
      await expect(readSwarmKey(join(dir, 'missing.key'))).rejects.toThrow(/cannot read PSK file .*--new-psk/);
    } finally {
      await removeDir(dir);
    }
  });

  it('refuses malformed keys with the reason', () => {
    expect(() => parseSwarmKey('hello')).toThrow(/not a \/key\/swarm\/psk\/1\.0\.0\/ swarm key/);
    expect(() => parseSwarmKey('/key/swarm/psk/1.0.0/\n/base32/\nabc')).toThrow(/encoding \/base32\/ is not/);
    expect(() => parseSwarmKey('/key/swarm/psk/1.0.0/\n/base16/\nzz')).toThrow(/encoding/);
    expect(() => parseSwarmKey(`/key/swarm/psk/1.0.0/\n/base16/\n${'ab'.repeat(16)}`)).toThrow(/32 bytes, this one 16/);
  });

  it('gives each key its own handshake prologue', () => {
    const a = randomBytes(32);
    expect(swarmPrologue(a)).toEqual(swarmPrologue(new Uint8Array(a)));
    expect(swarmPrologue(a)).not.toEqual(swarmPrologue(randomBytes(32)));
  });
});
