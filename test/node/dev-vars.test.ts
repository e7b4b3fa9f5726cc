import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningEdge } from '../../scripts/edge-launcher.js';
import { EdgeStartError, REPO_ROOT, startEdge } from '../../scripts/edge-launcher.js';
import { localSettingsBanner, localVarSources } from '../../scripts/local-vars.js';

// `.dev.vars` next to wrangler.toml overrides its [vars] the way wrangler loads it, goes through the
// same config reader, and the launcher says which file each override came from.

let dir: string;

/** A config folder holding the repository's wrangler.toml (main made absolute) and the given .dev.vars. */
function configDir(name: string, devVars: string): string {
  const folder = path.join(dir, name);
  const toml = readFileSync(path.join(REPO_ROOT, 'wrangler.toml'), 'utf8').replace(
    /^main = ".*"$/m,
    `main = ${JSON.stringify(path.join(REPO_ROOT, 'workers/index.ts'))}`,
  );
  mkdirSync(folder, { recursive: true });
  writeFileSync(path.join(folder, 'wrangler.toml'), toml);
  writeFileSync(path.join(folder, '.dev.vars'), devVars);
  return folder;
}

beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'fastreg-dev-vars-'));
});

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('.dev.vars', () => {
  let edge: RunningEdge | undefined;
  afterAll(async () => {
    await edge?.stop();
  });

  it('takes effect over wrangler.toml [vars] and is named as the source of each override', async () => {
    const folder = configDir('good', 'PULL_ACCESS="token"\nREDIRECT_POLICY="off"\n');
    edge = await startEdge({ stateDir: path.join(dir, 'state-good'), configPath: path.join(folder, 'wrangler.toml'), logs: false, localVars: true });
    expect(edge.varSources).toEqual({ PULL_ACCESS: '.dev.vars', REDIRECT_POLICY: '.dev.vars' });
    expect(edge.vars.REDIRECT_POLICY).toBe('off');

    // wrangler.toml says PULL_ACCESS = "public"; .dev.vars makes pulls need the token.
    const anonymous = await fetch(`${edge.url}/v2/`);
    expect(anonymous.status).toBe(401);
    const withToken = await fetch(`${edge.url}/v2/`, { headers: { Authorization: `Bearer ${edge.token}` } });
    expect(withToken.status).toBe(200);

    const banner = localSettingsBanner(edge.varSources, edge.vars);
    expect(banner).toContain('PULL_ACCESS = "token"   (from .dev.vars)');
    expect(banner).toContain('REDIRECT_POLICY = "off"   (from .dev.vars)');
  });

  it('is validated by the same config reader, and the error names the file', async () => {
    const folder = configDir('bad', 'REDIRECT_POLICY="sometimes"\n');
    const started = startEdge({ stateDir: path.join(dir, 'state-bad'), configPath: path.join(folder, 'wrangler.toml'), logs: false, localVars: true });
    await expect(started).rejects.toBeInstanceOf(EdgeStartError);
    await expect(started).rejects.toThrow(/REDIRECT_POLICY: .*\(set in \.dev\.vars\)/);
  });

  it('without .dev.vars names .env and .env.local the way wrangler reads them (the later wins); .dev.vars shadows both', () => {
    const folder = path.join(dir, 'dotenv');
    mkdirSync(folder, { recursive: true });
    writeFileSync(path.join(folder, '.env'), 'PULL_ACCESS="token"\nSITES=\'{}\'\n');
    writeFileSync(path.join(folder, '.env.local'), 'PULL_ACCESS="public"\n');
    expect(localVarSources(folder)).toEqual({ PULL_ACCESS: '.env.local', SITES: '.env' });
    writeFileSync(path.join(folder, '.dev.vars'), 'REDIRECT_POLICY="off"\n');
    expect(localVarSources(folder)).toEqual({ REDIRECT_POLICY: '.dev.vars' });
  });

  it('is ignored with localVars: false (FASTREG_LOCAL_VARS=0, as in the Node tests)', async () => {
    const folder = configDir('ignored', 'PULL_ACCESS="token"\n');
    const quiet = await startEdge({ stateDir: path.join(dir, 'state-ignored'), configPath: path.join(folder, 'wrangler.toml'), logs: false, localVars: false });
    try {
      expect(quiet.varSources).toEqual({});
      expect(quiet.vars.PULL_ACCESS).toBe('public');
      expect((await fetch(`${quiet.url}/v2/`)).status).toBe(200);
    } finally {
      await quiet.stop();
    }
  });

  it('hides secrets in the banner', () => {
    const banner = localSettingsBanner({ FASTREG_TOKEN: '.dev.vars' }, { FASTREG_TOKEN: 'super-secret-token-123' });
    expect(banner).toContain('FASTREG_TOKEN = (hidden)   (from .dev.vars)');
    expect(banner).not.toContain('super-secret');
  });
});
