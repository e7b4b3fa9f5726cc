export const MediaType = {
  OciManifest: 'application/vnd.oci.image.manifest.v1+json',
  OciIndex: 'application/vnd.oci.image.index.v1+json',
  DockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  DockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  DockerManifestV1Signed: 'application/vnd.docker.distribution.manifest.v1+prettyjws',
  OctetStream: 'application/octet-stream',
} as const;

/** What the mirror asks the upstream for when the client sends no Accept header of its own. */
export const MANIFEST_ACCEPT = [
  MediaType.OciIndex,
  MediaType.OciManifest,
  MediaType.DockerManifestList,
  MediaType.DockerManifest,
].join(', ');

export const MANIFEST_MEDIA_TYPES: readonly string[] = [
  MediaType.OciManifest,
  MediaType.OciIndex,
  MediaType.DockerManifest,
  MediaType.DockerManifestList,
  MediaType.DockerManifestV1Signed,
];

/**
 * The manifest media type a Content-Type names (parameters and case aside), or undefined if it names
 * none. The edge serves a manifest only under such a type: anything else (text/html above all) is
 * what a browser could be talked into rendering from the mirror's origin.
 */
export function declaredManifestType(contentType: string | null): string | undefined {
  const essence = contentType?.split(';')[0]?.trim().toLowerCase();
  return essence !== undefined && MANIFEST_MEDIA_TYPES.includes(essence) ? essence : undefined;
}

/** Picks the manifest media type from the upstream's Content-Type, falling back to the body's mediaType field. */
export function manifestMediaType(contentType: string | null, body: Uint8Array): string {
  const declared = contentType?.split(';')[0]?.trim();
  if (declared && MANIFEST_MEDIA_TYPES.includes(declared)) return declared;
  try {
    const parsed = JSON.parse(new TextDecoder().decode(body)) as { mediaType?: unknown; manifests?: unknown };
    if (typeof parsed.mediaType === 'string') return parsed.mediaType;
    if (Array.isArray(parsed.manifests)) return MediaType.OciIndex;
  } catch {
    // not JSON: fall through to the OCI default
  }
  return declared || MediaType.OciManifest;
}
