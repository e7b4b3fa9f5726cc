import path from 'node:path';
import { OciLayout, hostPlatform, pushImage, type Platform } from './images.js';

// The set of images the real-client tests pull: each kind of manifest a mirror must carry.

export interface TestImageRefs {
  /** Single-arch OCI image manifest. */
  oci: string;
  /** Docker schema-2 manifest (skopeo --format v2s2). */
  docker: string;
  /** Multi-arch OCI index (host platform + one other). */
  multi: string;
  /** Image with one big random layer; only when bigLayerBytes was given. */
  big?: string;
}

/** Builds the layouts under workDir and pushes them to hostPort. Returns repository:tag refs (no host). */
export async function publishTestImages(workDir: string, hostPort: string, options: { bigLayerBytes?: number } = {}): Promise<TestImageRefs> {
  const refs: TestImageRefs = { oci: 'library/test:1', docker: 'library/dockerfmt:1', multi: 'library/multi:1' };

  const single = new OciLayout(path.join(workDir, 'layout-single'));
  single.tag(
    await single.writeImage([
      [{ name: 'hello', content: '#!/bin/sh\necho hello from fastreg\n' }],
      [{ name: 'etc/fastreg-release', content: `single ${Date.now()}\n` }, { name: 'data.bin', randomBytes: 300_000 }],
    ]),
    '1',
  );
  await pushImage(single.dir, '1', `${hostPort}/${refs.oci}`);

  const docker = new OciLayout(path.join(workDir, 'layout-docker'));
  docker.tag(await docker.writeImage([[{ name: 'hello', content: `docker format ${Date.now()}\n` }]]), '1');
  await pushImage(docker.dir, '1', `${hostPort}/${refs.docker}`, { format: 'v2s2' });

  const multi = new OciLayout(path.join(workDir, 'layout-multi'));
  const host = hostPlatform();
  const other: Platform = { architecture: host.architecture === 'arm64' ? 'amd64' : 'arm64', os: 'linux' };
  const children = [];
  for (const platform of [host, other]) {
    children.push(await multi.writeImage([[{ name: 'arch', content: `${platform.os}/${platform.architecture} ${Date.now()}\n` }]], platform));
  }
  multi.tag(multi.writeIndex(children), '1');
  await pushImage(multi.dir, '1', `${hostPort}/${refs.multi}`, { all: true });

  if (options.bigLayerBytes) {
    refs.big = 'library/big:1';
    const big = new OciLayout(path.join(workDir, 'layout-big'));
    big.tag(await big.writeImage([[{ name: 'big.bin', randomBytes: options.bigLayerBytes }]]), '1');
    await pushImage(big.dir, '1', `${hostPort}/${refs.big}`);
  }
  return refs;
}
