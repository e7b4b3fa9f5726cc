// The sidecar's identity at the edge: it enrolls with the fleet's enrollment token and a request
// signed by its libp2p key, and receives a short-lived credential bound to its peer ID, the redirect
// key and the swarm key. The credential is renewed at half-life, so it never lapses while the edge
// is reachable.
import type { PrivateKey } from '@libp2p/interface';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import { setTimeout as sleep } from 'node:timers/promises';
import { ENROLL_PATH, enrollMessage, fromBase64Url, toBase64Url, type EnrollResponse } from '../../workers/shared/sidecars/auth.js';
import { EdgeClient } from './edge-client.js';
import { EdgeHttpError } from '../errors.js';
import { parseSwarmKey, type SwarmKey } from '../../workers/shared/sidecars/swarm-key.js';

export interface Enrollment {
  credential: string;
  expiresAt: number;
  resource: string;
  pullAccess: 'public' | 'token';
  redirectKey: Uint8Array;
  swarmKey: SwarmKey;
}

const REQUEST_TIMEOUT_MS = 10_000;
/** Waits between attempts while the edge cannot be reached (the last one repeats). */
const RETRY_DELAYS_MS = [1_000, 2_000, 5_000, 10_000, 30_000];

/** One enrollment round trip. A wrong token or key is an EdgeHttpError with status 401. */
export async function enroll(options: { edgeUrl: string; enrollToken: string; privateKey: PrivateKey; signal?: AbortSignal }): Promise<Enrollment> {
  const peerId = peerIdFromPrivateKey(options.privateKey).toString();
  const issuedAt = Date.now();
  const signature = await options.privateKey.sign(enrollMessage(peerId, issuedAt));
  const client = new EdgeClient({ baseUrl: options.edgeUrl, token: options.enrollToken, timeoutMs: REQUEST_TIMEOUT_MS, userAgent: 'fastreg-sidecar' });
  const answer = await client.json<EnrollResponse>('POST', ENROLL_PATH, {
    body: { peerId, issuedAt, signature: toBase64Url(signature) },
    ...(options.signal && { signal: options.signal }),
  });
  const redirectKey = fromBase64Url(answer.redirectKey ?? '');
  if (!answer.credential || !redirectKey || !answer.swarmKey) {
    throw new EdgeHttpError(502, 'INVALID_RESPONSE', 'the edge answered the enrollment without a credential, redirect key or swarm key');
  }
  let swarmKey: SwarmKey;
  try {
    swarmKey = parseSwarmKey(answer.swarmKey);
  } catch (err) {
    throw new EdgeHttpError(502, 'INVALID_RESPONSE', `the edge's swarm key is unusable: ${(err as Error).message}`);
  }
  return {
    credential: answer.credential,
    expiresAt: Date.parse(answer.expiresAt),
    resource: answer.resource,
    pullAccess: answer.pullAccess,
    redirectKey,
    swarmKey,
  };
}

/** Holds the current enrollment and renews it in the background until the signal aborts. */
export class EdgeSession {
  private constructor(
    private enrollment: Enrollment,
    private readonly renew: (signal: AbortSignal) => Promise<Enrollment>,
  ) {}

  /**
   * Enrolls, retrying while the edge is unreachable or failing (a sidecar without the swarm key
   * cannot join the private network, so start waits); a refused token or key, or an edge without
   * enrollment, fails at once.
   */
  static async open(options: { edgeUrl: string; enrollToken: string; privateKey: PrivateKey; signal: AbortSignal; log: (message: string) => void }): Promise<EdgeSession> {
    const attempt = (signal: AbortSignal) => enroll({ ...options, signal });
    for (let failures = 0; ; failures++) {
      try {
        return new EdgeSession(await attempt(options.signal), attempt);
      } catch (err) {
        if (isRefusal(err) || options.signal.aborted) throw new Error(`the edge refused this sidecar's enrollment: ${(err as Error).message}`, { cause: err });
        const delay = RETRY_DELAYS_MS[Math.min(failures, RETRY_DELAYS_MS.length - 1)]!;
        options.log(`enrollment at ${options.edgeUrl} failed (retrying in ${delay / 1000} s): ${(err as Error).message}`);
        await sleep(delay, undefined, { signal: options.signal });
      }
    }
  }

  get current(): Enrollment {
    return this.enrollment;
  }

  /** The bearer credential to send to the edge now. */
  credential = (): string => this.enrollment.credential;

  private wake: (() => void) | undefined;

  /** Renew now rather than at half-life: the edge refused the credential (e.g. its SIDECAR_KEY changed). */
  renewSoon = (): void => this.wake?.();

  /** Renews at half the remaining life (or when woken); after a failed renewal tries again sooner. Resolves when the signal aborts. */
  async keepFresh(signal: AbortSignal, log: (message: string) => void): Promise<void> {
    while (!signal.aborted) {
      const woken = new AbortController();
      this.wake = () => woken.abort();
      await sleep(Math.max(1_000, (this.enrollment.expiresAt - Date.now()) / 2), undefined, { signal: AbortSignal.any([signal, woken.signal]) }).catch(() => undefined);
      if (signal.aborted) return;
      try {
        this.enrollment = await this.renew(signal);
      } catch (err) {
        if (signal.aborted) return;
        log(`credential renewal failed (will retry): ${(err as Error).message}`);
      }
    }
  }
}

/** A 4xx other than 408/429 will not change by retrying: a wrong token or key, or a URL that is not an edge with enrollment (404). */
function isRefusal(err: unknown): boolean {
  return err instanceof EdgeHttpError && err.status >= 400 && err.status < 500 && err.status !== 408 && err.status !== 429;
}
