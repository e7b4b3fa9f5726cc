// Bundles the `fastreg` CLI into one ES module (default dist/fastreg.mjs) with esbuild. Run with
// `npx tsx sidecar/build.ts [outfile]`; start it with `node dist/fastreg.mjs sidecar ...`.
import { build } from 'esbuild';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const ROOT = resolve(import.meta.dirname, '..');

export async function buildCliBundle(outfile = resolve(ROOT, 'dist/fastreg.mjs')): Promise<string> {
  await build({
    entryPoints: [resolve(ROOT, 'sidecar/cli/bundle-entry.ts')],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    logLevel: 'error',
    // Some dependencies still call require(); give the ES module one.
    banner: { js: "import { createRequire as __fastregCreateRequire } from 'node:module'; const require = __fastregCreateRequire(import.meta.url);" },
  });
  return outfile;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  process.stdout.write(`${await buildCliBundle(process.argv[2])}\n`);
}
