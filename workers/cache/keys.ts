import type { Digest } from '../shared/oci/index.js';

// R2 key layout. Blobs are content-addressed and shared by every repository and upstream;
// manifests are kept per upstream and repository, since a tag only means something there.

export function blobKey(digest: Digest): string {
  return `blobs/${digest.algorithm}/${digest.hex}`;
}

export function manifestTagKey(registry: string, repository: string, tag: string): string {
  return `manifests/${registry}/${repository}/tags/${tag}`;
}

export function manifestDigestKey(registry: string, repository: string, digest: string): string {
  return `manifests/${registry}/${repository}/digests/${digest}`;
}
