import { MANIFEST_ACCEPT, MediaType, OciError, digestMismatch, digestOf, manifestMediaType, parseDigest } from '../../workers/shared/oci/index.js';
import { EdgeUnreachableError } from '../errors.js';
import { readBounded } from '../../workers/shared/http/read-bounded.js';
import { httpError, send, type Server } from './http.js';
import type { ImageReference } from './image-reference.js';
import { formatPlatform, platformMatches, type Platform } from './platform.js';

// Resolves an image through the edge: the manifest (or index → the chosen platforms' manifests),
// each verified against its digest, down to the blobs a pull needs: config and layers.

const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
const MANIFEST_TIMEOUT_MS = 60_000;
const MAX_INDEX_DEPTH = 2;
const INDEX_TYPES = new Set<string>([MediaType.OciIndex, MediaType.DockerManifestList]);

export interface EdgeTarget extends Server {
  token?: string;
  ns?: string;
}

export interface BlobDescriptor {
  digest: string;
  size: number;
  mediaType: string;
}

export type PlatformChoice = { kind: 'one'; platform: Platform } | { kind: 'all' };

export interface ResolvedImage {
  /** Digest of the manifest or index the reference names. */
  digest: string;
  mediaType: string;
  /** Platforms of the manifests walked; empty for a single-platform manifest. */
  platforms: string[];
  /** Config and layer blobs, each digest once, in manifest order. */
  blobs: BlobDescriptor[];
}

interface Descriptor {
  mediaType?: string;
  digest?: unknown;
  size?: unknown;
  platform?: Platform;
}

interface ManifestJson {
  mediaType?: string;
  manifests?: Descriptor[];
  config?: Descriptor;
  layers?: Descriptor[];
}

export async function resolveImage(edge: EdgeTarget, image: ImageReference, choice: PlatformChoice, signal: AbortSignal): Promise<ResolvedImage> {
  const root = await fetchManifest(edge, image, image.reference, signal);
  const platforms: string[] = [];
  const blobs = new Map<string, BlobDescriptor>();

  const walk = async (manifest: FetchedManifest, depth: number): Promise<void> => {
    if (INDEX_TYPES.has(manifest.mediaType)) {
      if (depth >= MAX_INDEX_DEPTH) throw new OciError('MANIFEST_INVALID', `index ${manifest.digest} nests indexes deeper than ${MAX_INDEX_DEPTH}`);
      for (const child of chooseChildren(manifest, choice)) {
        if (child.platform) platforms.push(formatPlatform(child.platform));
        await walk(await fetchManifest(edge, image, descriptor(child, manifest.digest).digest, signal), depth + 1);
      }
      return;
    }
    if (manifest.mediaType === MediaType.DockerManifestV1Signed) {
      throw new OciError('UNSUPPORTED', `${manifest.digest} is a schema 1 manifest, which FastReg does not prefetch`);
    }
    if (!manifest.json.config || !Array.isArray(manifest.json.layers)) {
      throw new OciError('MANIFEST_INVALID', `manifest ${manifest.digest} has no config or layers`);
    }
    for (const entry of [manifest.json.config, ...manifest.json.layers]) {
      const blob = descriptor(entry, manifest.digest);
      if (!blobs.has(blob.digest)) blobs.set(blob.digest, blob);
    }
  };
  await walk(root, 0);
  return { digest: root.digest, mediaType: root.mediaType, platforms, blobs: [...blobs.values()] };
}

function chooseChildren(index: FetchedManifest, choice: PlatformChoice): Descriptor[] {
  const children = index.json.manifests;
  if (!Array.isArray(children)) throw new OciError('MANIFEST_INVALID', `index ${index.digest} has no manifests list`);
  // Attestations (buildx provenance, SBOMs) are listed with the platform unknown/unknown.
  const images = children.filter((child) => child.platform?.os !== 'unknown');
  if (choice.kind === 'all') return images;
  const match = images.find((child) => child.platform && platformMatches(choice.platform, child.platform));
  if (!match) {
    const offered = images.map((child) => (child.platform ? formatPlatform(child.platform) : '?')).join(', ') || 'none';
    throw new OciError('MANIFEST_UNKNOWN', `no manifest for ${formatPlatform(choice.platform)} in ${index.digest} (it has: ${offered})`);
  }
  return [match];
}

function descriptor(entry: Descriptor, parent: string): BlobDescriptor {
  const size = entry.size;
  if (typeof entry.digest !== 'string' || typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) {
    throw new OciError('MANIFEST_INVALID', `manifest ${parent} has a descriptor without a valid digest and size`);
  }
  return { digest: parseDigest(entry.digest).value, size, mediaType: entry.mediaType ?? MediaType.OctetStream };
}

interface FetchedManifest {
  digest: string;
  mediaType: string;
  json: ManifestJson;
}

async function fetchManifest(edge: EdgeTarget, image: ImageReference, reference: string, signal: AbortSignal): Promise<FetchedManifest> {
  const url = new URL(`${edge.base}/v2/${image.name}/manifests/${reference}`);
  if (edge.ns) url.searchParams.set('ns', edge.ns);
  const headers: Record<string, string> = { Accept: MANIFEST_ACCEPT, 'User-Agent': 'fastreg-prefetch' };
  if (edge.token) headers.Authorization = `Bearer ${edge.token}`;
  const deadline = AbortSignal.any([signal, AbortSignal.timeout(MANIFEST_TIMEOUT_MS)]);
  let response: Response;
  let bytes: Uint8Array;
  try {
    response = await send(edge, url, { headers, signal: deadline });
    if (!response.ok) throw await httpError(edge, `GET manifest ${image.name}:${reference}`, response);
    bytes = await readBounded(response.body, MAX_MANIFEST_BYTES, {
      tooLarge: () => new OciError('MANIFEST_INVALID', `manifest ${reference} is larger than ${MAX_MANIFEST_BYTES} bytes`),
    });
  } catch (err) {
    if (deadline.aborted && !signal.aborted) {
      throw new EdgeUnreachableError(`${edge.role} at ${edge.base} did not send manifest ${image.name}:${reference} within ${MANIFEST_TIMEOUT_MS / 1000} s`);
    }
    throw err;
  }

  // By digest, the bytes must hash to it; by tag, to the digest the edge announced.
  const expected = reference.includes(':') ? reference : response.headers.get('Docker-Content-Digest') ?? undefined;
  const algorithm = expected ? parseDigest(expected).algorithm : 'sha256';
  const actual = await digestOf(bytes, algorithm);
  if (expected !== undefined && actual !== expected) throw digestMismatch(expected, actual);

  let json: ManifestJson;
  try {
    json = JSON.parse(new TextDecoder().decode(bytes)) as ManifestJson;
  } catch {
    throw new OciError('MANIFEST_INVALID', `manifest ${actual} is not JSON`);
  }
  if (typeof json !== 'object' || json === null) throw new OciError('MANIFEST_INVALID', `manifest ${actual} is not a JSON object`);
  return { digest: actual, mediaType: manifestMediaType(response.headers.get('Content-Type'), bytes), json };
}
