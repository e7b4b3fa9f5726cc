import { readFileSync } from 'node:fs';
import Module, { createRequire } from 'node:module';
import path from 'node:path';

// Loads Miniflare with its entry socket hardened against spoofed client addresses.
//
// Miniflare's entry worker sets CF-Connecting-IP from the TCP peer only when the request has no
// such header, and replaces request.cf with the client's MF-CF-Blob header when present. Locally
// both are therefore client-controlled. workerd's socket option `injectRequestHeaders` removes any
// existing header of the same name; injecting both with an empty value makes the entry worker
// ignore them (it tests truthiness), so the Worker sees the real peer address and the default cf.
// Miniflare has no option for the entry socket's HTTP settings, so the one function that builds
// them is patched in the loaded source (never on disk). Verified against miniflare 4.20260426.0;
// a different version fails loudly here instead of silently trusting the headers.

const ANCHOR = `  } else {
    return { http: {} };
  }
}
function valueOrFile(`;

const REPLACEMENT = `  } else {
    return { http: { injectRequestHeaders: [{ name: "CF-Connecting-IP", value: "" }, { name: "MF-CF-Blob", value: "" }] } };
  }
}
function valueOrFile(`;

type MiniflareModule = typeof import('miniflare');

let loaded: MiniflareModule | undefined;

export function loadHardenedMiniflare(): MiniflareModule {
  if (loaded) return loaded;
  const require = createRequire(import.meta.url);
  const filename = require.resolve('miniflare');
  const source = readFileSync(filename, 'utf8');
  if (source.split(ANCHOR).length !== 2) {
    throw new Error(
      `miniflare at ${filename} does not have the expected entry-socket code; ` +
        'scripts/miniflare-ingress.ts must be updated for this version (client CF-Connecting-IP/MF-CF-Blob would be trusted)',
    );
  }
  const internal = Module as unknown as { _nodeModulePaths(dir: string): string[] };
  const mod = new Module(filename) as Module & { _compile(code: string, file: string): void };
  mod.filename = filename;
  mod.paths = internal._nodeModulePaths(path.dirname(filename));
  mod._compile(source.replace(ANCHOR, REPLACEMENT), filename);
  loaded = mod.exports as MiniflareModule;
  return loaded;
}
