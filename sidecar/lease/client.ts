import { LEASE_BATCH_MAX_KEYS, LEASE_PROTOCOL_VERSION } from '../../workers/shared/leases/batch-api.js';
import type { LeaseShardStats, OffloadResult, RegisterEntry } from '../../workers/shared/leases/shard-types.js';
import { LeaseClientClosedError, LeaseError, LeaseTimeoutError, LeaseUnreachableError, LeaseVersionError } from './errors.js';

// A typed client for the edge's batch lease API (/leases): can-offload, register, match-prefix, stats.
// Registrations are batched like the distributed-registry client it follows: a batch goes out when it
// holds `batchSize` entries or `batchTimeoutMs` after its first entry, whichever comes first; flush()
// sends what is queued. Batches go out one at a time, in order, so a chain's parent is always
// registered before a child in a later batch. Web-standard fetch only: it runs in Node and in Workers.

export type { LeaseShardStats, OffloadResult, RegisterEntry };
export type KeyOffload = OffloadResult & { key: string };

export interface RegisterAck {
  /** Entries of the batch that were stored. */
  stored: number;
  /** Keys the shards evicted to make room, for the whole batch. */
  evicted: number;
  /** Entries of the batch skipped because their parent was not registered. */
  skipped: number;
}

export interface PrefixMatch {
  count: number;
  lastKey?: string;
  lastValue?: string;
}

export interface LeaseClientOptions {
  /** Base URL of the edge, e.g. https://mirror.example.com */
  edge: string;
  /** FASTREG_TOKEN: the lease API always needs it. */
  token: string;
  /** Deadline of one HTTP request. Default 5,000 ms. */
  timeoutMs?: number;
  /** Registrations per batch (1-1,000). Default 100. */
  batchSize?: number;
  /** How long the first registration of a batch waits for more. Default 10 ms. */
  batchTimeoutMs?: number;
  /** Replaces the global fetch (tests, custom agents). */
  fetch?: typeof fetch;
}

export const LEASE_CLIENT_DEFAULTS = { timeoutMs: 5_000, batchSize: 100, batchTimeoutMs: 10 } as const;

interface Pending {
  entry: RegisterEntry;
  resolve(ack: RegisterAck): void;
  reject(err: unknown): void;
}

export class LeaseClient {
  readonly edge: string;
  private readonly token: string;
  private readonly timeoutMs: number;
  private readonly batchSize: number;
  private readonly batchTimeoutMs: number;
  private readonly fetchImpl: typeof fetch;
  private queue: Pending[] = [];
  private timer: ReturnType<typeof setTimeout> | undefined;
  /** The last batch sent; the next one starts after it settles. */
  private sending: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(options: LeaseClientOptions) {
    const url = new URL(options.edge);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new TypeError(`edge URL "${options.edge}" must be http(s)`);
    if (!options.token) throw new TypeError('the lease API needs a token (FASTREG_TOKEN)');
    this.edge = url.href.replace(/\/+$/, '');
    this.token = options.token;
    this.timeoutMs = positive(options.timeoutMs ?? LEASE_CLIENT_DEFAULTS.timeoutMs, 'timeoutMs');
    this.batchSize = positive(options.batchSize ?? LEASE_CLIENT_DEFAULTS.batchSize, 'batchSize');
    if (this.batchSize > LEASE_BATCH_MAX_KEYS) throw new RangeError(`batchSize is at most ${LEASE_BATCH_MAX_KEYS}`);
    this.batchTimeoutMs = Math.max(0, options.batchTimeoutMs ?? LEASE_CLIENT_DEFAULTS.batchTimeoutMs);
    this.fetchImpl = options.fetch ?? ((input, init) => fetch(input, init));
  }

  /** Per key: Granted (you fetch it), AlreadyStored, or Leased (someone else is fetching it). */
  async canOffload(keys: string[], holder: string, signal?: AbortSignal): Promise<KeyOffload[]> {
    const answer = await this.post<{ results: KeyOffload[] }>('/leases/can-offload', { keys, holder }, signal);
    return answer.results;
  }

  /** Queues one registration; resolves with the acknowledgement of the batch it went out in. */
  register(entry: RegisterEntry): Promise<RegisterAck> {
    if (this.closed) return Promise.reject(new LeaseClientClosedError());
    return new Promise<RegisterAck>((resolve, reject) => {
      this.queue.push({ entry, resolve, reject });
      if (this.queue.length >= this.batchSize) this.sendQueued();
      else this.timer ??= setTimeout(() => this.sendQueued(), this.batchTimeoutMs);
    });
  }

  /** Registers a chain in order, each key naming the one before it as parent. */
  registerChain(keys: string[], values: (string | undefined)[] = []): Promise<RegisterAck[]> {
    return Promise.all(keys.map((key, i) => this.register({ key, ...(i > 0 && { parent: keys[i - 1] }), ...(values[i] !== undefined && { value: values[i] }) })));
  }

  /** Sends every queued registration and waits until all sent batches are acknowledged or failed. */
  async flush(): Promise<void> {
    this.sendQueued();
    await this.sending;
  }

  /** The longest registered prefix of a sequence of keys. */
  matchPrefix(keys: string[], signal?: AbortSignal): Promise<PrefixMatch> {
    return this.post<PrefixMatch>('/leases/match-prefix', { keys }, signal);
  }

  stats(signal?: AbortSignal): Promise<LeaseShardStats & { shards: number }> {
    return this.request('GET', '/leases/stats', undefined, signal);
  }

  /** Flushes, then refuses further registrations. */
  async close(): Promise<void> {
    this.closed = true;
    await this.flush();
  }

  private sendQueued(): void {
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, this.batchSize);
      this.sending = this.sending.then(async () => {
        try {
          const ack = await this.post<RegisterAck>('/leases/register', { entries: batch.map((p) => p.entry) });
          const result = { stored: ack.stored, evicted: ack.evicted, skipped: ack.skipped ?? 0 };
          for (const pending of batch) pending.resolve(result);
        } catch (err) {
          for (const pending of batch) pending.reject(err);
        }
      });
    }
  }

  private post<T>(path: string, body: Record<string, unknown>, signal?: AbortSignal): Promise<T> {
    return this.request<T>('POST', path, { version: LEASE_PROTOCOL_VERSION, ...body }, signal);
  }

  private async request<T>(method: string, path: string, body: unknown, signal?: AbortSignal): Promise<T> {
    const timeout = AbortSignal.timeout(this.timeoutMs);
    const combined = signal ? AbortSignal.any([signal, timeout]) : timeout;
    const headers: Record<string, string> = { Authorization: `Bearer ${this.token}`, Accept: 'application/json' };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    let response: Response;
    let text: string;
    try {
      response = await this.fetchImpl(`${this.edge}${path}`, { method, headers, signal: combined, ...(body !== undefined && { body: JSON.stringify(body) }) });
      text = await response.text();
    } catch (err) {
      if (timeout.aborted) throw new LeaseTimeoutError(`edge ${this.edge} did not answer ${method} ${path} within ${this.timeoutMs} ms`);
      if (signal?.aborted) throw err;
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      throw new LeaseUnreachableError(`edge ${this.edge} unreachable: ${cause?.code ?? cause?.message ?? (err as Error).message}`);
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw new LeaseError(`edge answered ${method} ${path} with HTTP ${response.status} and no JSON`, 'INVALID_RESPONSE', response.status);
    }
    if (!response.ok) throw errorFrom(json, response.status);
    const version = (json as { version?: unknown }).version;
    if (version !== LEASE_PROTOCOL_VERSION) {
      throw new LeaseVersionError(`edge answered with lease protocol version ${String(version)}; this client speaks ${LEASE_PROTOCOL_VERSION}`, typeof version === 'number' ? [version] : [], response.status);
    }
    return json as T;
  }
}

function errorFrom(json: unknown, status: number): LeaseError {
  const first = (json as { errors?: { code?: string; message?: string; detail?: { supported?: unknown } }[] }).errors?.[0];
  const code = first?.code ?? 'UNKNOWN';
  const message = `${status} ${code}: ${first?.message ?? 'no error message'}`;
  const supported = first?.detail?.supported;
  if (Array.isArray(supported) && supported.every((v) => typeof v === 'number')) return new LeaseVersionError(message, supported, status);
  return new LeaseError(message, code, status);
}

function positive(value: number, name: string): number {
  if (!Number.isFinite(value) || value <= 0) throw new RangeError(`${name} must be a positive number`);
  return value;
}
