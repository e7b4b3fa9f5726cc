// One repository's failure is not another's: a sidecar runs one fill per digest, and asks the
// edge for each caller's repository in turn. Wrong repositories (and bare /blobs/<digest> GETs,
// which have none) hammered in a loop must not fail good pulls of the same cold digests.
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashGet, removeDir, startSidecar, stopAll, waitFor, type SidecarProcess } from '../helpers/sidecar-cluster.js';

const ROUNDS = 4;
const blobs = Array.from({ length: ROUNDS }, () => {
  const bytes = randomBytes(512 * 1024);
  return { bytes, digest: `sha256:${createHash('sha256').update(bytes).digest('hex')}` };
});
const byDigest = new Map(blobs.map((blob) => [blob.digest, blob.bytes]));
const goodGets: string[] = [];

// The edge serves the blobs for library/alpine only, trickled over ~0.5 s; wrong names are refused
// after a short delay, so that requests for them are in flight when a good pull arrives.
const edge = http.createServer((req, res) => {
  const match = /^\/v2\/(.+)\/blobs\/(sha256:[a-f0-9]{64})$/.exec(req.url ?? '');
  const bytes = match ? byDigest.get(match[2] as string) : undefined;
  if (!match || !bytes) {
    res.writeHead(404).end();
    return;
  }
  if (match[1] === 'library/alpine') {
    goodGets.push(match[2] as string);
    res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': String(bytes.length) });
    let at = 0;
    const timer = setInterval(() => {
      res.write(bytes.subarray(at, at + 64 * 1024));
      at += 64 * 1024;
      if (at >= bytes.length) {
        clearInterval(timer);
        res.end();
      }
    }, 60);
    return;
  }
  const status = match[1] === 'denied/repo' ? 403 : 404;
  setTimeout(() => {
    res.writeHead(status, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ errors: [{ code: status === 403 ? 'DENIED' : 'NAME_UNKNOWN', message: 'no' }] }));
  }, 300);
});

let sidecar: SidecarProcess;

beforeAll(async () => {
  await new Promise<void>((resolve) => edge.listen(0, '127.0.0.1', resolve));
  const edgeUrl = `http://127.0.0.1:${(edge.address() as AddressInfo).port}`;
  sidecar = await startSidecar({ name: 'scoped', env: { FASTREG_ENROLL_TOKEN: '' }, args: ['--edge', edgeUrl] }); // the fake edge has no enrollment
});

afterAll(async () => {
  await stopAll([sidecar]);
  if (sidecar) await removeDir(sidecar.dir);
  await new Promise((resolve) => edge.close(resolve));
});

/** GETs `path` on the sidecar in a loop until `stop`, at most 200 times, adding the statuses to `seen`. */
async function hammer(path: string, stop: { done: boolean }, seen: number[]): Promise<void> {
  const deadline = Date.now() + 20_000;
  for (let count = 0; !stop.done && count < 200 && Date.now() < deadline; count++) {
    const response = await fetch(`${sidecar.url}${path}`);
    await response.arrayBuffer();
    seen.push(response.status);
  }
}

describe('sidecar single flight scoped by origin', () => {
  it('good pulls of a digest succeed while wrong repositories and bare digests for it fail in a loop', async () => {
    const refusals: number[] = [];
    for (const blob of blobs) {
      const stop = { done: false };
      const seen: number[] = [];
      const loops = [
        hammer(`/v2/nope/zz/blobs/${blob.digest}`, stop, seen),
        hammer(`/v2/nope/zz/blobs/${blob.digest}`, stop, seen),
        hammer(`/v2/denied/repo/blobs/${blob.digest}`, stop, seen),
        hammer(`/blobs/${blob.digest}`, stop, seen),
        hammer(`/blobs/${blob.digest}`, stop, seen),
      ];
      // The attack runs first: the digest fails for the wrong names, and their fills are in flight
      // when the good pull arrives and joins one of them.
      await waitFor(() => seen.filter((status) => status !== 200).length >= 6, { timeoutMs: 10_000, intervalMs: 20, what: 'bad requests refused' });
      const good = await hashGet(`${sidecar.url}/v2/library/alpine/blobs/${blob.digest}`);
      stop.done = true;
      await Promise.all(loops);
      refusals.push(...seen.filter((status) => status !== 200));
      expect({ status: good.status, digest: good.digest }).toEqual({ status: 200, digest: blob.digest });
    }
    // Refused as the edge refused them: 404, and the 403 passed on as an edge failure (502).
    expect(new Set(refusals)).toEqual(new Set([404, 502]));
    // One edge fill per digest for the good repository: the single flight still holds for it.
    expect(goodGets.sort()).toEqual(blobs.map((blob) => blob.digest).sort());
  });
});
