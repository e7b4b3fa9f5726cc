import { env } from 'cloudflare:test';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { getConfig, parseConfig } from '../../workers/shared/edge-config.js';
import { fetchWithEnv } from './registry-helpers.js';

// UPSTREAM_CREDENTIALS with PULL_ACCESS=public publishes whatever those credentials can read:
// valid, but worth a warning in the log and on the status page.

const credentials = (registry: string) => JSON.stringify({ [registry]: { username: 'mirror-bot', password: 'secret-password' } });

afterEach(() => vi.restoreAllMocks());

describe('configuration warnings', () => {
  it('warn of upstream credentials on a public edge only', () => {
    expect(parseConfig({ ...env }).warnings).toEqual([]);
    expect(parseConfig({ ...env, PULL_ACCESS: 'token', UPSTREAM_CREDENTIALS: credentials('docker.io') }).warnings).toEqual([]);
    const [warning, ...rest] = parseConfig({ ...env, UPSTREAM_CREDENTIALS: credentials('docker.io') }).warnings;
    expect(rest).toEqual([]);
    expect(warning).toMatch(/UPSTREAM_CREDENTIALS .*docker\.io.*PULL_ACCESS=public/);
  });

  it('are logged once per isolate, however many env objects carry them', () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => undefined);
    const registry = `once-${crypto.randomUUID().slice(0, 8)}.example`;
    for (let i = 0; i < 3; i++) getConfig({ ...env, UPSTREAM_CREDENTIALS: credentials(registry) });
    const logged = warn.mock.calls.map((args) => String(args[0])).filter((line) => line.includes(registry));
    expect(logged).toHaveLength(1);
    expect(logged[0]).toMatch(/^fastreg: warning: UPSTREAM_CREDENTIALS .*PULL_ACCESS=public/);
  });

  it('head the status page, escaped', async () => {
    const quiet = await fetchWithEnv('http://mirror/', {});
    expect(quiet.status).toBe(200);
    expect(await quiet.text()).not.toContain('data-field="warnings"');

    vi.spyOn(console, 'warn').mockImplementation(() => undefined);
    const page = await fetchWithEnv('http://mirror/', { UPSTREAM_CREDENTIALS: credentials('<b>evil</b>.example') });
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toMatch(/<section class="panel warn" data-field="warnings">.*UPSTREAM_CREDENTIALS are set for &lt;b&gt;evil&lt;\/b&gt;\.example while PULL_ACCESS=public/s);
    expect(html).not.toContain('<b>evil');
  });
});
