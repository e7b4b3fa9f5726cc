import { DOCKER_HUB_REGISTRIES, OciError, TAG_GRAMMAR, isDigestLike, isRegistryHost, parseDigest, validateName, withDockerHubLibrary } from '../../workers/shared/oci/index.js';

// `[registry/]name[:tag|@digest]` as Docker reads it (distribution's reference.ParseNormalizedNamed).

const DOCKER_HUB = 'docker.io';

export interface ImageReference {
  /** The registry as given (Docker Hub aliases normalized), or undefined for the edge's default registry. */
  registry: string | undefined;
  /** The repository as the edge is asked for it. */
  name: string;
  /** A tag or a canonical digest. */
  reference: string;
  byDigest: boolean;
}

/** Parses an image reference; throws OciError (NAME_INVALID, DIGEST_INVALID, MANIFEST_INVALID) on a bad one. */
export function parseImageReference(text: string): ImageReference {
  let rest = text.trim();
  if (rest === '') throw new OciError('NAME_INVALID', 'image reference is empty');

  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    const text = rest.slice(at + 1);
    if (!isDigestLike(text)) throw new OciError('DIGEST_INVALID', `"${text}" after @ is not a digest`);
    digest = parseDigest(text).value;
    rest = rest.slice(0, at);
  }
  // A colon after the last slash starts the tag; one before it belongs to a registry port.
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG_GRAMMAR.test(tag)) throw new OciError('MANIFEST_INVALID', `invalid tag "${tag}"`);
  }

  let registry: string | undefined;
  const slash = rest.indexOf('/');
  const first = slash < 0 ? '' : rest.slice(0, slash);
  if (first.includes('.') || first.includes(':') || first === 'localhost') {
    const host = first.toLowerCase();
    if (!isRegistryHost(host)) throw new OciError('NAME_INVALID', `invalid registry host "${first}"`);
    registry = DOCKER_HUB_REGISTRIES.has(host) ? DOCKER_HUB : host;
    rest = rest.slice(slash + 1);
  }
  const onDockerHub = registry === undefined || registry === DOCKER_HUB;
  const name = validateName(onDockerHub ? withDockerHubLibrary(rest) : rest);
  // Docker pulls by digest when both are given; the tag is informational.
  const reference = digest ?? tag ?? 'latest';
  return { registry, name, reference, byDigest: digest !== undefined };
}

export function formatImageReference(image: ImageReference): string {
  const separator = image.byDigest ? '@' : ':';
  return `${image.registry ? `${image.registry}/` : ''}${image.name}${separator}${image.reference}`;
}
