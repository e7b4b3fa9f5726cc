import { OciError } from './errors.js';
import { isDigestLike, parseDigest } from './digest.js';

export const MAX_NAME_LENGTH = 255;
// OCI distribution-spec repository name grammar: lowercase path components separated by '/'.
const NAME_COMPONENT = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*$/;
/** OCI tag grammar: 1-128 characters of [A-Za-z0-9_.-], not starting with . or -. */
export const TAG_GRAMMAR = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;

/** Validates a repository name; throws NAME_INVALID naming the offending part. */
export function validateName(name: string): string {
  if (name.length === 0) throw new OciError('NAME_INVALID', 'repository name is empty');
  if (name.length > MAX_NAME_LENGTH) {
    throw new OciError('NAME_INVALID', `repository name is longer than ${MAX_NAME_LENGTH} characters`);
  }
  for (const component of name.split('/')) {
    if (component === '') throw new OciError('NAME_INVALID', `repository name "${name}" has an empty path segment`);
    if (component === '.' || component === '..') {
      throw new OciError('NAME_INVALID', `repository name "${name}" contains a "${component}" segment`);
    }
    if (!NAME_COMPONENT.test(component)) {
      throw new OciError(
        'NAME_INVALID',
        `repository name segment "${component}" is invalid: use lowercase letters, digits and single separators`,
      );
    }
  }
  return name;
}

export type Reference = { kind: 'tag'; tag: string } | { kind: 'digest'; digest: string };

/**
 * A manifest reference is a tag or a digest. A digest-shaped reference with a bad algorithm or hex is
 * DIGEST_INVALID (400); anything else that is not a tag names no manifest, so it is MANIFEST_UNKNOWN
 * (404), as distribution answers and the OCI conformance suite expects.
 */
export function parseReference(reference: string): Reference {
  if (isDigestLike(reference)) return { kind: 'digest', digest: parseDigest(reference).value };
  if (!TAG_GRAMMAR.test(reference)) {
    throw new OciError('MANIFEST_UNKNOWN', `manifest unknown: "${reference.slice(0, 80)}" is neither a tag nor a digest`);
  }
  return { kind: 'tag', tag: reference };
}

export type RegistryPath =
  | { kind: 'base' }
  | { kind: 'manifest'; name: string; reference: Reference }
  | { kind: 'blob'; name: string; digest: string }
  | { kind: 'upload'; name: string }
  | { kind: 'tags'; name: string };

const ROUTE = /^\/v2\/(.+)\/(manifests|blobs|tags)\/(.*)$/;

/**
 * Parses a `/v2/...` path. Names contain slashes, so the route is matched from the right:
 * the last `/manifests/`, `/blobs/` or `/tags/` separates name from reference.
 */
export function parseRegistryPath(pathname: string): RegistryPath {
  if (pathname === '/v2' || pathname === '/v2/') return { kind: 'base' };
  const match = ROUTE.exec(pathname);
  if (!match) throw new OciError('NOT_FOUND', `no registry route for ${pathname.slice(0, 120)}`);
  const [, rawName = '', section, rest = ''] = match;
  const name = validateName(rawName);
  if (section === 'tags') {
    if (rest !== 'list') throw new OciError('NOT_FOUND', `no registry route for ${pathname.slice(0, 120)}`);
    return { kind: 'tags', name };
  }
  if (section === 'blobs') {
    if (rest === 'uploads' || rest.startsWith('uploads/')) return { kind: 'upload', name };
    return { kind: 'blob', name, digest: parseDigest(rest).value };
  }
  return { kind: 'manifest', name, reference: parseReference(rest) };
}

/** Docker Hub keeps official images under `library/`; dockerd adds it, other clients may not. */
export function withDockerHubLibrary(name: string): string {
  return name.includes('/') ? name : `library/${name}`;
}

/** The names Docker Hub goes by. */
export const DOCKER_HUB_REGISTRIES: ReadonlySet<string> = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io']);

const REGISTRY_HOST = /^[a-z0-9.-]+(?::[0-9]{1,5})?$/;

/** A lowercase registry host with an optional port, as `?ns=` and image references name registries. */
export function isRegistryHost(host: string): boolean {
  return REGISTRY_HOST.test(host) && host.length <= MAX_NAME_LENGTH;
}

/** The `?ns=` parameter (containerd's hosts.toml): a registry host with an optional port, lowercased. */
export function parseRegistryNs(ns: string): string {
  const registry = ns.toLowerCase();
  if (!isRegistryHost(registry)) {
    throw new OciError('INVALID_REQUEST', `invalid ns parameter "${registry.slice(0, 80)}"`);
  }
  return registry;
}
