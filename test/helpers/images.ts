import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { MANIFEST_ACCEPT, MediaType } from '../../workers/shared/oci/media-types.js';
import { runOk } from './processes.js';

// Test images built without internet: OCI image layouts written by hand (gzip'd tar layers,
// config JSON, manifest, index) and pushed to a registry with skopeo.

export { MANIFEST_ACCEPT } from '../../workers/shared/oci/media-types.js';
export const OCI_MANIFEST = MediaType.OciManifest;
export const OCI_INDEX = MediaType.OciIndex;
export const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
export const OCI_LAYER_GZIP = 'application/vnd.oci.image.layer.v1.tar+gzip';
export const DOCKER_MANIFEST = MediaType.DockerManifest;
export const DOCKER_MANIFEST_LIST = MediaType.DockerManifestList;

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: { architecture: string; os: string };
  annotations?: Record<string, string>;
}

/** A file in a layer: small content in memory, or `randomBytes` bytes of random data streamed to disk. */
export type LayerFile = { name: string; content: string | Buffer } | { name: string; randomBytes: number };

export interface Platform {
  architecture: string;
  os: string;
}

/** The platform Docker and containerd on this machine pick from a multi-arch index. */
export function hostPlatform(): Platform {
  const architecture = ({ x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386' } as Record<string, string>)[process.arch] ?? process.arch;
  return { architecture, os: 'linux' };
}

/** An OCI image layout directory being written. */
export class OciLayout {
  private readonly refs: Descriptor[] = [];

  constructor(readonly dir: string) {
    mkdirSync(path.join(dir, 'blobs', 'sha256'), { recursive: true });
    writeFileSync(path.join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  }

  writeBlob(bytes: Buffer, mediaType: string): Descriptor {
    const hex = createHash('sha256').update(bytes).digest('hex');
    writeFileSync(path.join(this.dir, 'blobs', 'sha256', hex), bytes);
    return { mediaType, digest: `sha256:${hex}`, size: bytes.length };
  }

  writeJson(value: unknown, mediaType: string): Descriptor {
    return this.writeBlob(Buffer.from(JSON.stringify(value)), mediaType);
  }

  /** Streams a gzip'd tar of `files` into the layout. Returns the layer descriptor and its diff_id. */
  async writeLayer(files: LayerFile[]): Promise<{ descriptor: Descriptor; diffId: string }> {
    const tmp = path.join(this.dir, 'blobs', `tmp-${randomBytes(6).toString('hex')}`);
    const uncompressed = createHash('sha256');
    const compressed = createHash('sha256');
    let size = 0;
    await pipeline(
      Readable.from(tarEntries(files)),
      tap((chunk) => uncompressed.update(chunk)),
      createGzip({ level: 1 }),
      tap((chunk) => {
        compressed.update(chunk);
        size += chunk.length;
      }),
      createWriteStream(tmp),
    );
    const hex = compressed.digest('hex');
    renameSync(tmp, path.join(this.dir, 'blobs', 'sha256', hex));
    return { descriptor: { mediaType: OCI_LAYER_GZIP, digest: `sha256:${hex}`, size }, diffId: `sha256:${uncompressed.digest('hex')}` };
  }

  /** Writes config + manifest for one platform. Returns the manifest descriptor (not yet tagged). */
  async writeImage(layers: LayerFile[][], platform: Platform = hostPlatform()): Promise<Descriptor> {
    const written = [];
    for (const files of layers) written.push(await this.writeLayer(files));
    const config = this.writeJson(
      {
        created: '2026-01-01T00:00:00Z',
        architecture: platform.architecture,
        os: platform.os,
        config: { Cmd: ['/hello'], Env: ['PATH=/usr/bin:/bin'] },
        rootfs: { type: 'layers', diff_ids: written.map((layer) => layer.diffId) },
        history: written.map(() => ({ created: '2026-01-01T00:00:00Z', created_by: 'fastreg test' })),
      },
      OCI_CONFIG,
    );
    const manifest = this.writeJson(
      { schemaVersion: 2, mediaType: OCI_MANIFEST, config, layers: written.map((layer) => layer.descriptor) },
      OCI_MANIFEST,
    );
    return { ...manifest, platform };
  }

  writeIndex(manifests: Descriptor[]): Descriptor {
    return this.writeJson({ schemaVersion: 2, mediaType: OCI_INDEX, manifests }, OCI_INDEX);
  }

  /** Names `descriptor` as `tag` in index.json; skopeo reads it as oci:DIR:tag. */
  tag(descriptor: Descriptor, tag: string): void {
    const { platform: _platform, ...plain } = descriptor;
    this.refs.push({ ...plain, annotations: { 'org.opencontainers.image.ref.name': tag } });
    writeFileSync(path.join(this.dir, 'index.json'), JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: this.refs }));
  }
}

/** Pushes oci:layoutDir:tag to docker://destination (host:port/name:tag) with skopeo. */
export async function pushImage(
  layoutDir: string,
  tag: string,
  destination: string,
  options: { format?: 'oci' | 'v2s2'; all?: boolean } = {},
): Promise<void> {
  const args = ['copy', '--quiet', '--dest-tls-verify=false', '--retry-times', '2'];
  if (options.format) args.push('--format', options.format);
  if (options.all) args.push('--all');
  args.push(`oci:${layoutDir}:${tag}`, `docker://${destination}`);
  await runOk('skopeo', args, { timeoutMs: 300_000, env: { ...process.env, ...offlineProxyEnv() } });
}

/** Keeps registry clients on loopback: anything not for 127.0.0.1 goes to a dead proxy. */
export function offlineProxyEnv(): Record<string, string> {
  return { HTTP_PROXY: 'http://127.0.0.1:9', HTTPS_PROXY: 'http://127.0.0.1:9', NO_PROXY: '127.0.0.1,localhost' };
}

export interface ImageDigests {
  /** Digest of the manifest (or index) the tag points to. */
  digest: string;
  mediaType: string;
  /** Child manifests of an index. */
  manifests: string[];
  /** Config and layer digests of every manifest reached. */
  blobs: string[];
}

/** Reads an image from a registry over HTTP (by tag or digest) and lists every digest in it. */
export async function registryDigests(registryUrl: string, name: string, ref: string, init: RequestInit = {}): Promise<ImageDigests> {
  const top = await fetchManifest(registryUrl, name, ref, init);
  const result: ImageDigests = { digest: top.digest, mediaType: top.mediaType, manifests: [], blobs: [] };
  const visit = (manifest: { config?: Descriptor; layers?: Descriptor[] }) => {
    if (manifest.config) result.blobs.push(manifest.config.digest);
    for (const layer of manifest.layers ?? []) result.blobs.push(layer.digest);
  };
  const body = top.body as { manifests?: Descriptor[]; config?: Descriptor; layers?: Descriptor[] };
  if (body.manifests) {
    for (const child of body.manifests) {
      result.manifests.push(child.digest);
      visit((await fetchManifest(registryUrl, name, child.digest, init)).body as { config?: Descriptor; layers?: Descriptor[] });
    }
  } else {
    visit(body);
  }
  return result;
}

async function fetchManifest(registryUrl: string, name: string, ref: string, init: RequestInit): Promise<{ digest: string; mediaType: string; body: unknown }> {
  const headers = new Headers(init.headers);
  headers.set('Accept', MANIFEST_ACCEPT);
  const response = await fetch(`${registryUrl}/v2/${name}/manifests/${ref}`, { ...init, headers, signal: AbortSignal.timeout(30_000) });
  const text = await response.text();
  if (!response.ok) throw new Error(`GET ${registryUrl}/v2/${name}/manifests/${ref}: ${response.status} ${text.slice(0, 300)}`);
  const digest = `sha256:${createHash('sha256').update(text).digest('hex')}`;
  const declared = response.headers.get('Docker-Content-Digest');
  if (declared && declared !== digest) throw new Error(`manifest ${ref}: Docker-Content-Digest ${declared} but body hashes to ${digest}`);
  return { digest, mediaType: (response.headers.get('Content-Type') ?? '').split(';')[0]!, body: JSON.parse(text) };
}

// --- tar writing (ustar), enough for regular files ---

async function* tarEntries(files: LayerFile[]): AsyncGenerator<Buffer> {
  for (const file of files) {
    const size = 'content' in file ? Buffer.byteLength(file.content) : file.randomBytes;
    yield tarHeader(file.name, size);
    if ('content' in file) {
      yield Buffer.from(file.content);
    } else {
      const chunk = 1024 * 1024;
      for (let offset = 0; offset < size; offset += chunk) yield randomBytes(Math.min(chunk, size - offset));
    }
    const pad = (512 - (size % 512)) % 512;
    if (pad) yield Buffer.alloc(pad);
  }
  yield Buffer.alloc(1024);
}

function tarHeader(name: string, size: number): Buffer {
  if (Buffer.byteLength(name) > 100) throw new Error(`tar name too long: ${name}`);
  const header = Buffer.alloc(512);
  header.write(name, 0, 'utf8');
  header.write('0000755\0', 100); // mode
  header.write('0000000\0', 108); // uid
  header.write('0000000\0', 116); // gid
  header.write(size.toString(8).padStart(11, '0') + '\0', 124);
  header.write('14000000000\0', 136); // mtime
  header.write('        ', 148); // checksum placeholder
  header.write('0', 156); // regular file
  header.write('ustar\0', 257);
  header.write('00', 263);
  let sum = 0;
  for (const byte of header) sum += byte;
  header.write(sum.toString(8).padStart(6, '0') + '\0 ', 148);
  return header;
}

function tap(onChunk: (chunk: Buffer) => void): Transform {
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      onChunk(chunk);
      callback(null, chunk);
    },
  });
}
