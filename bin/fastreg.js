#!/usr/bin/env node
// Entry of the `fastreg` command. It runs the esbuild bundle dist/fastreg.mjs (`npm run build`, which
// `npm install` runs) when no source is newer than it: plain JavaScript needs no TypeScript loader,
// which keeps a sidecar about 70 MB smaller. After a source edit it runs the sources through tsx.
// An installed package (npm pack) carries only the bundle, no sources and no tsx: it always runs it.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const bundle = join(root, 'dist/fastreg.mjs');

function mtimeOf(path) {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return undefined;
  }
}

function newestSource(dir) {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestSource(path));
    else if (entry.name.endsWith('.ts')) newest = Math.max(newest, mtimeOf(path) ?? 0);
  }
  return newest;
}

const built = mtimeOf(bundle);
const fromRepository = existsSync(join(root, 'sidecar', 'cli', 'main.ts'));
if (!fromRepository) {
  if (built === undefined) {
    process.stderr.write(`fastreg: ${bundle} is missing; this package was packed without its bundle (npm run build before npm pack)\n`);
    process.exit(1);
  }
  await import(pathToFileURL(bundle).href);
} else if (built !== undefined && built >= Math.max(newestSource(join(root, 'sidecar')), newestSource(join(root, 'workers')), mtimeOf(join(root, 'package-lock.json')) ?? 0)) {
  await import(pathToFileURL(bundle).href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  const { main } = await import('../sidecar/cli/main.ts');
  await main(process.argv);
}
