// Builds what the npm package ships: the `fastreg` CLI as one ES module (default dist/fastreg.mjs),
// the `fastreg/lease-client` library (dist/lease-client.mjs) and its type declarations
// (dist/types/), all with every dependency bundled, so an installed package needs no node_modules.
// Run with `npx tsx scripts/build-sidecar.ts [cli-outfile]` (npm run build; npm install and npm pack run it).
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { build } from 'esbuild';

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
    // Whitespace and syntax only: identifiers keep their names, so stack traces stay readable. The
    // source a process holds shrinks from 4.2 to 2.6 MB, and an idle sidecar's RSS by about 6 MB (86 → 80).
    minifyWhitespace: true,
    minifySyntax: true,
    // Some dependencies still call require(); give the ES module one.
    banner: { js: "import { createRequire as __fastregCreateRequire } from 'node:module'; const require = __fastregCreateRequire(import.meta.url);" },
  });
  return outfile;
}

/** The lease client: Web-standard globals only, so one neutral ES module serves Node and Workers. */
export async function buildLeaseClient(outfile = resolve(ROOT, 'dist/lease-client.mjs')): Promise<string> {
  await build({
    entryPoints: [resolve(ROOT, 'sidecar/lease/index.ts')],
    outfile,
    bundle: true,
    platform: 'neutral',
    format: 'esm',
    target: 'es2022',
    logLevel: 'error',
  });
  // Declarations of the client and the few files it imports, under dist/types/ (same layout as the sources).
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  execFileSync(process.execPath, [
    tsc, resolve(ROOT, 'sidecar/lease/index.ts'),
    '--declaration', '--emitDeclarationOnly', '--outDir', resolve(ROOT, 'dist/types'), '--rootDir', ROOT,
    '--module', 'NodeNext', '--moduleResolution', 'NodeNext', '--target', 'ES2022', '--lib', 'ES2024', '--types', 'node',
    '--strict', '--skipLibCheck', '--verbatimModuleSyntax',
  ], { stdio: 'inherit' });
  return outfile;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  process.stdout.write(`${await buildCliBundle(process.argv[2])}\n`);
  if (process.argv[2] === undefined) process.stdout.write(`${await buildLeaseClient()}\n`);
}
