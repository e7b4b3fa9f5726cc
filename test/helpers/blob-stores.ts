import { createHash, randomBytes } from 'node:crypto';
import { afterAll } from 'vitest';
import type { BlobStore } from '../../sidecar/store/blob-store.js';
import { FsBlobStore } from '../../sidecar/store/fs-store.js';
import { MemoryBlobStore } from '../../sidecar/store/memory-store.js';
import { parseDigest } from '../../workers/shared/oci/index.js';
import { makeTempDir, removeDir } from './sidecar-cluster.js';

// The sidecar's BlobStore implementations, for suites that run once over each (spegel style).

/** Random bytes and their digest: fixtures are named by their hash. */
export function blobFixture(size: number) {
  const bytes = randomBytes(size);
  return { bytes, digest: parseDigest(`sha256:${createHash('sha256').update(bytes).digest('hex')}`) };
}

/** [name, make] for every BlobStore; the FsBlobStore directories are removed after the suite. Call at a suite's top level. */
export function blobStoreImplementations(prefix: string): [string, () => Promise<BlobStore>][] {
  const dirs: string[] = [];
  afterAll(async () => {
    await Promise.all(dirs.map(removeDir));
  });
  return [
    ['MemoryBlobStore', async () => new MemoryBlobStore()],
    [
      'FsBlobStore',
      async () => {
        const dir = await makeTempDir(prefix);
        dirs.push(dir);
        return FsBlobStore.open({ dir, capacity: 64 * 1024 * 1024 });
      },
    ],
  ];
}
