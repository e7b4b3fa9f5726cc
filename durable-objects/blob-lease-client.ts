import { OciError, type OciErrorCode } from '../workers/shared/oci/index.js';
import type { BlobLease } from './blob-lease.js';
import type { AcquireResult, FillProgress, LeaseFailure, RenewResult, StoredBlob, WaitFillResult, WaitResult } from './blob-lease-types.js';
import { COALESCE_MAX_ROUNDS, COALESCE_WAIT_DEADLINE_MS, WAIT_GRACE_MS } from './constants.js';

/** What a fill (the upstream fetch done while holding the lease) hands back. */
export interface FillOutcome<T> {
  /** Returned to the caller at once, e.g. a Response streaming the bytes to the client. */
  value: T;
  /** Settles once the bytes are durably stored (e.g. the R2 write finished); rejects if storing failed. */
  stored: Promise<StoredBlob>;
}

export interface FillContext {
  /** Call whenever bytes move. The lease is renewed only while there is progress, so a stalled fetch loses it. */
  progress(): void;
}

export interface CoalesceOptions<T> {
  /** Lease key: the blob digest, or e.g. `manifest:<registry>/<name>@<ref>`. */
  key: string;
  /** Fetch from upstream and store. Runs only while this request holds the lease. */
  fill: (context: FillContext) => Promise<FillOutcome<T>>;
  /**
   * Reads what another request stored. Undefined means it is gone (or too old for this caller): the
   * lease forgets it and we fetch again. `waited` is true when it was stored while this caller waited.
   */
  readStored: (stored: StoredBlob, how: { waited: boolean }) => Promise<T | undefined>;
  /** Keeps the lease's bookkeeping (renew, complete, release) alive after the response was returned. */
  waitUntil: (promise: Promise<unknown>) => void;
  /** Overall time a follower waits for other fetchers before giving up with UNAVAILABLE. */
  waitDeadlineMs?: number;
  /** Told what happened to the lease, for metrics; `settled` = this caller's grant was completed or released. */
  observe?: (event: LeaseEvent) => void;
}

export type LeaseEvent = 'granted' | 'waited' | 'expired' | 'takeover' | 'settled';

export interface BlobLeaseClientOptions {
  ttlMs: number;
  /** Defaults to the object's own LEASE_MAX_HOLDERS. */
  maxHolders?: number;
  /** Names this caller in the lease (for logs and stats). */
  holder?: string;
}

/**
 * Caller-side wrapper of the BlobLease actors: hides the stubs and runs the acquire → fill | wait →
 * serve protocol, so however many requests ask at once, one of them fetches from upstream.
 */
export class BlobLeaseClient {
  private readonly holder: string;

  constructor(
    private readonly namespace: DurableObjectNamespace<BlobLease>,
    private readonly options: BlobLeaseClientOptions,
  ) {
    this.holder = options.holder ?? `edge-${crypto.randomUUID().slice(0, 8)}`;
  }

  stub(key: string): DurableObjectStub<BlobLease> {
    return this.namespace.getByName(key);
  }

  // The piece-wise blob fill protocol: acquire → (holder) begin, announce…, complete | release;
  // (readers) waitFill until the piece they need is stored. Each call is retried once on a fresh stub.

  acquire(key: string): Promise<AcquireResult> {
    // The object applies its own LEASE_TTL_MS and LEASE_MAX_HOLDERS.
    return this.call<AcquireResult>(key, (stub) => stub.acquire(this.holder));
  }

  begin(key: string, leaseId: string, size: number, pieceBytes: number): Promise<FillProgress | RenewResult> {
    return this.call<FillProgress | RenewResult>(key, (stub) => stub.begin(leaseId, key, size, pieceBytes));
  }

  announce(key: string, leaseId: string, pieces: number): Promise<RenewResult> {
    return this.call<RenewResult>(key, (stub) => stub.announce(leaseId, pieces));
  }

  async complete(key: string, leaseId: string, stored: StoredBlob): Promise<void> {
    await this.call(key, (stub) => stub.complete(leaseId, stored.size, stored.location));
  }

  /**
   * `scope` names what an upstream answer was about (see LeaseFailure); `discard`: the fill's pieces
   * were wrong and are deleted, so readers that passed bytes on must fail.
   */
  async release(key: string, leaseId: string, err: unknown, options: { scope?: string; discard?: boolean } = {}): Promise<void> {
    const failure = failureOf(err);
    if (failure && options.scope !== undefined) failure.scope = options.scope;
    await this.call(key, (stub) => stub.release(leaseId, describe(err), failure, options.discard ?? false));
  }

  /** `waitFill` with this caller's own deadline: a pending RPC to an object that was reset never settles. */
  waitFill(key: string, afterPieces: number): Promise<WaitFillResult> {
    const timeoutMs = this.options.ttlMs + 1_000;
    return withLocalDeadline(
      (async (): Promise<WaitFillResult> => this.stub(key).waitFill(afterPieces, timeoutMs))(),
      timeoutMs + WAIT_GRACE_MS,
    ).catch((): WaitFillResult => ({ kind: 'Timeout', expiresAt: Date.now(), generation: Number.NaN }));
  }

  forget(key: string, location: string): Promise<boolean> {
    return this.call<boolean>(key, (stub) => stub.forget(location));
  }

  /** Renews the lease while bytes move (call `progress()`); stop it once the fill settled. */
  heartbeat(key: string, leaseId: string): Heartbeat {
    return new Heartbeat(this.stub(key), leaseId, this.options.ttlMs);
  }

  /** RPC stubs type union answers as unions of promises; callers name the answer type instead. */
  private async call<R>(key: string, rpc: (stub: DurableObjectStub<BlobLease>) => unknown): Promise<R> {
    try {
      return (await rpc(this.stub(key))) as R;
    } catch {
      return (await rpc(this.stub(key))) as R;
    }
  }

  async coalesce<T>({ key, fill, readStored, waitUntil, waitDeadlineMs = COALESCE_WAIT_DEADLINE_MS, observe }: CoalesceOptions<T>): Promise<T> {
    let lease = this.stub(key);
    const { ttlMs, maxHolders } = this.options;
    const deadline = Date.now() + waitDeadlineMs;
    let waited = false;
    let failedCalls = 0;
    for (let round = 0; round < COALESCE_MAX_ROUNDS; round++) {
      let answer: AcquireResult;
      try {
        answer = await lease.acquire(this.holder, { ttlMs, maxHolders });
      } catch (err) {
        // The lease object is unreachable (reset, overloaded): try once more, then fetch without it
        // rather than fail the pull. Worst case that is one extra upstream fetch per such request.
        lease = this.stub(key); // a stub that saw its object reset stays broken
        if (++failedCalls < 2) continue;
        console.warn(`blob lease ${key.slice(0, 200)} unreachable, fetching without it:`, describe(err));
        return this.fillUnleased(fill, waitUntil);
      }
      if (answer.kind === 'Granted') {
        observe?.('granted');
        if (waited) observe?.('takeover');
        return this.fillHolding(key, lease, answer.leaseId, fill, waitUntil, observe);
      }
      if (answer.kind === 'AlreadyStored') {
        const value = await readStored(answer, { waited: false });
        if (value !== undefined) return value;
        await lease.forget(answer.location).catch(() => undefined);
        continue;
      }
      const remaining = deadline - Date.now();
      if (remaining <= 0) break;
      // Wait at most about one TTL per round, so a holder that died is noticed even without the alarm.
      if (!waited) observe?.('waited');
      waited = true;
      let woke: WaitResult;
      try {
        const timeoutMs = Math.min(remaining, ttlMs + 1_000);
        woke = await withLocalDeadline((async (): Promise<WaitResult> => lease.wait(timeoutMs))(), timeoutMs + WAIT_GRACE_MS);
      } catch {
        // A wait whose object was reset may never answer or may fail; the lease state is in SQLite, so ask again.
        lease = this.stub(key);
        continue;
      }
      if (woke.kind === 'Free' && woke.reason === 'expired') observe?.('expired');
      if (woke.kind === 'Free' && woke.failure && isDefinitive(woke.failure)) {
        // The holder got an answer that a retry would only repeat (e.g. 404): share it instead of re-asking.
        throw new OciError(woke.failure.code as OciErrorCode, woke.failure.message);
      }
      if (woke.kind === 'Stored') {
        const value = await readStored(woke, { waited: true });
        if (value !== undefined) return value;
        await lease.forget(woke.location).catch(() => undefined);
      }
    }
    throw new OciError('UNAVAILABLE', `gave up waiting for the concurrent upstream fetch of ${key.slice(0, 200)}; retry`, {
      headers: { 'Retry-After': String(Math.ceil(ttlMs / 1000)) },
    });
  }

  /** Bookkeeping must reach the object: retry once on a fresh stub (one that saw a reset stays broken). */
  private async withRetry(key: string, lease: DurableObjectStub<BlobLease>, call: (stub: DurableObjectStub<BlobLease>) => Promise<unknown>): Promise<void> {
    try {
      await call(lease);
    } catch {
      await call(this.stub(key));
    }
  }

  /** Degraded mode when the lease object cannot be reached: fetch and store without coordination. */
  private async fillUnleased<T>(fill: CoalesceOptions<T>['fill'], waitUntil: CoalesceOptions<T>['waitUntil']): Promise<T> {
    const outcome = await fill({ progress: () => undefined });
    waitUntil(outcome.stored.catch(() => undefined));
    return outcome.value;
  }

  /** Runs the fill while holding the lease: renews while bytes move, completes once stored, releases on failure. */
  private async fillHolding<T>(
    key: string,
    lease: DurableObjectStub<BlobLease>,
    leaseId: string,
    fill: CoalesceOptions<T>['fill'],
    waitUntil: CoalesceOptions<T>['waitUntil'],
    observe?: CoalesceOptions<T>['observe'],
  ): Promise<T> {
    const heartbeat = new Heartbeat(lease, leaseId, this.options.ttlMs);
    let outcome: FillOutcome<T>;
    try {
      outcome = await fill({ progress: () => heartbeat.progress() });
    } catch (err) {
      heartbeat.stop();
      await this.withRetry(key, lease, (stub) => stub.release(leaseId, describe(err), failureOf(err))).catch(() => undefined);
      observe?.('settled');
      throw err;
    }
    const settle = outcome.stored.then(
      (stored) => this.withRetry(key, lease, (stub) => stub.complete(leaseId, stored.size, stored.location)),
      (err: unknown) => this.withRetry(key, lease, (stub) => stub.release(leaseId, describe(err))),
    );
    waitUntil(
      settle
        .catch((err: unknown) => console.error(`lease bookkeeping failed for ${leaseId}:`, err))
        .finally(() => {
          heartbeat.stop();
          observe?.('settled');
        }),
    );
    return outcome.value;
  }
}

/** Renews the lease about three times per TTL, but only if progress was reported since the last renewal. */
export class Heartbeat {
  private moved = false;
  private idleTicks = 0;
  private readonly timer: ReturnType<typeof setInterval>;

  constructor(lease: DurableObjectStub<BlobLease>, leaseId: string, ttlMs: number) {
    this.timer = setInterval(() => {
      if (!this.moved) {
        // A full TTL without progress: the lease is gone by now, stop ticking.
        if (++this.idleTicks > 3) this.stop();
        return;
      }
      this.moved = false;
      this.idleTicks = 0;
      lease.renew(leaseId, ttlMs).then(
        (result) => {
          if (result.kind !== 'Renewed') this.stop();
        },
        () => undefined,
      );
    }, Math.max(50, Math.floor(ttlMs / 3)));
  }

  progress(): void {
    this.moved = true;
  }

  stop(): void {
    clearInterval(this.timer);
  }
}

const describe = (err: unknown) => (err instanceof Error ? `${err.name}: ${err.message}` : String(err)).slice(0, 200);

const failureOf = (err: unknown): LeaseFailure | undefined => (err instanceof OciError ? { code: err.code, message: err.message } : undefined);

/**
 * The upstream's own answers (not found, denied, rate limited) would be the same for the next taker, so
 * waiters share them. Anything else is not: a 5xx or timeout may pass, a digest mismatch may be a bad
 * transfer, and a request-specific error (e.g. one client's unsatisfiable Range) is not the waiters' at all.
 */
const SHARED_UPSTREAM_ANSWERS: ReadonlySet<string> = new Set<OciErrorCode>([
  'BLOB_UNKNOWN',
  'MANIFEST_UNKNOWN',
  'NAME_UNKNOWN',
  'UNAUTHORIZED',
  'DENIED',
  'TOOMANYREQUESTS',
]);

export function isDefinitive(failure: LeaseFailure): boolean {
  return SHARED_UPSTREAM_ANSWERS.has(failure.code);
}

/** A definitive answer for this caller: one about its own scope (or one that names no scope). */
export function isDefinitiveFor(failure: LeaseFailure | undefined, scope: string): failure is LeaseFailure {
  return failure !== undefined && isDefinitive(failure) && (failure.scope === undefined || failure.scope === scope);
}

/** Rejects if `promise` has not settled after `ms`: a pending RPC to an object that was reset never settles. */
export function withLocalDeadline<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | null = null;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}
