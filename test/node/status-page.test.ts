import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../scripts/edge-launcher.js';
import { parsePrometheus, sumSamples, type ParsedSample } from '../../workers/shared/metrics-wire/parse.js';
import { startTestEdge, type TestEdge } from '../helpers/edge.js';
import { FakeUpstream } from '../helpers/fake-upstream.js';
import { startSidecar, stopAll, waitFor, type SidecarProcess } from '../helpers/sidecar-cluster.js';

// The status page at `/` in headless Chromium (Debian's package) against a launched edge:
// the figures it shows must be the ones /metrics reports. Saves a screenshot for people to look at.

const CHROMIUM = '/usr/bin/chromium';
const SCREENSHOT = path.join(REPO_ROOT, 'test/.tmp/status-page.png');
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const NAME = 'library/statuspage';

let fake: FakeUpstream;
let edge: TestEdge;
let sidecar: SidecarProcess | undefined;
let context: BrowserContext | undefined;
let profileDir: string;

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium (never download a browser)`);
  fake = new FakeUpstream();
  await fake.start();
  edge = await startTestEdge({ upstream: fake.url });
  profileDir = mkdtempSync(path.join(tmpdir(), 'fastreg-chromium-'));
}, 120_000);

afterAll(async () => {
  await context?.close().catch(() => undefined);
  await stopAll([sidecar]);
  await edge?.stop();
  await fake?.stop();
  if (profileDir) rmSync(profileDir, { recursive: true, force: true });
}, 60_000);

async function get(urlPath: string, headers: Record<string, string> = {}): Promise<{ status: number; bytes: number }> {
  const res = await fetch(`${edge.url}${urlPath}`, { headers, signal: AbortSignal.timeout(30_000) });
  return { status: res.status, bytes: (await res.arrayBuffer()).byteLength };
}

async function scrape(): Promise<ParsedSample[]> {
  const res = await fetch(`${edge.url}/metrics`, { signal: AbortSignal.timeout(10_000) });
  expect(res.status).toBe(200);
  return parsePrometheus(await res.text());
}

async function field(page: Page, name: string): Promise<string> {
  return ((await page.locator(`[data-field="${name}"]`).textContent()) ?? '').trim();
}

const int = (text: string) => Number(text.replace(/,/g, ''));

describe('status page', () => {
  it('shows the hit ratio, bytes saved, leases, sidecars and quota that /metrics reports, and refreshes by itself', async () => {
    // Traffic: a blob miss, three hits, a manifest by tag (miss) and by digest twice (hits).
    const blob = randomBytes(300 * 1024);
    const blobDigest = fake.addBlob(blob);
    const manifestDigest = fake.addManifest(NAME, 'v1', { schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: blobDigest, size: blob.length }, layers: [] }, OCI_MANIFEST);
    for (let i = 0; i < 4; i++) expect(await get(`/v2/${NAME}/blobs/${blobDigest}`)).toEqual({ status: 200, bytes: blob.length });
    expect((await get(`/v2/${NAME}/manifests/v1`, { Accept: OCI_MANIFEST })).status).toBe(200);
    for (let i = 0; i < 2; i++) expect((await get(`/v2/${NAME}/manifests/${manifestDigest}`, { Accept: OCI_MANIFEST })).status).toBe(200);

    // A real sidecar registering with the edge, so "sidecars online" has something to show.
    sidecar = await startSidecar({ name: 'status-sidecar', entry: 'cli', args: ['--edge', edge.url], env: { FASTREG_TOKEN: edge.token } });
    await waitFor(async () => sumSamples(await scrape(), 'fastreg_sidecars_online') === 1, { timeoutMs: 30_000, intervalMs: 250, what: 'sidecar registered at the edge' });

    context = await chromium.launchPersistentContext(profileDir, {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
      viewport: { width: 1100, height: 900 },
    });
    const page = context.pages()[0] ?? (await context.newPage());
    const consoleErrors: string[] = [];
    page.on('console', (msg) => void (msg.type() === 'error' && consoleErrors.push(msg.text())));
    page.on('pageerror', (err) => consoleErrors.push(String(err)));
    const response = await page.goto(`${edge.url}/`, { timeout: 30_000 });
    expect(response?.status()).toBe(200);
    // The page marks each successful refresh on <body data-updates>.
    await page.waitForSelector('body[data-updates]', { timeout: 15_000 });

    const samples = await scrape();
    const cached = sumSamples(samples, 'fastreg_edge_requests_total', { route: /^(blob|manifest)$/, source: 'r2' });
    const upstream = sumSamples(samples, 'fastreg_edge_requests_total', { route: /^(blob|manifest)$/, source: 'upstream' });
    expect(cached).toBe(3 + 2);
    expect(upstream).toBe(1 + 1);
    expect(await field(page, 'hit-ratio')).toBe(`${((cached / (cached + upstream)) * 100).toFixed(1)}%`);
    expect(int(await field(page, 'cached'))).toBe(cached);
    expect(int(await field(page, 'total'))).toBe(cached + upstream);
    const avoided = sumSamples(samples, 'fastreg_upstream_bytes_avoided_total');
    expect(avoided).toBe(3 * blob.length);
    expect(await field(page, 'bytes-saved')).toBe('900.0 KiB');
    expect(int((await field(page, 'bytes-saved-exact')).split(' ')[0]!)).toBe(avoided);
    expect(int(await field(page, 'active-leases'))).toBe(sumSamples(samples, 'fastreg_leases_active'));
    expect(int(await field(page, 'leases-granted'))).toBe(sumSamples(samples, 'fastreg_leases_total', { outcome: 'granted' }));
    expect(int(await field(page, 'sidecars-online'))).toBe(1);
    expect(int(await field(page, 'sidecars-online'))).toBe(sumSamples(samples, 'fastreg_sidecars_online'));

    const quota = sumSamples(samples, 'fastreg_upstream_ratelimit_remaining', { registry: 'docker.io' });
    const upstreamRow = await page.locator('[data-field="upstreams"] tr').filter({ hasText: 'docker.io' }).locator('td').allTextContents();
    expect(upstreamRow[0]).toBe('docker.io');
    expect(int(upstreamRow[1]!)).toBe(quota);
    expect(int(upstreamRow[2]!)).toBe(sumSamples(samples, 'fastreg_upstream_ratelimit_limit', { registry: 'docker.io' }));
    const sidecarRow = await page.locator('[data-field="sidecars"] tr').first().locator('td').allTextContents();
    expect(sidecarRow[0]).toBe(sidecar.peerId);
    expect(sidecarRow[2]).toBe('ip:127.0.0.1');
    expect(Number(await page.locator('[data-field="sparkline"]').getAttribute('data-points'))).toBeGreaterThanOrEqual(1);

    // It refreshes by itself: one more cache hit shows up without a reload.
    expect((await get(`/v2/${NAME}/blobs/${blobDigest}`)).status).toBe(200);
    await expect.poll(async () => int(await field(page, 'cached')), { timeout: 15_000, interval: 250 }).toBe(cached + 1);

    mkdirSync(path.dirname(SCREENSHOT), { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    expect(statSync(SCREENSHOT).size).toBeGreaterThan(10_000);
    expect(consoleErrors).toEqual([]);
  }, 150_000);
});
