import { OciError, type OciErrorCode } from '../shared/oci/index.js';
import { recordUpstreamResponse, upstreamStats } from '../metrics/stats.js';
import { parseChallenge, type AuthChallenge } from './challenge.js';
import { basicAuthorization, hasPassword, type UpstreamCredentials } from './credentials.js';
import { upstreamFetchError, upstreamStatusError, upstreamTimeout } from './errors.js';
import { cachedToken, storeToken } from './token-cache.js';

export type Fetcher = (url: string, init: RequestInit) => Promise<Response>;

export interface UpstreamClientOptions {
  /** Registry host as configured in UPSTREAMS, e.g. docker.io. */
  registry: string;
  baseUrl: string;
  credentials?: UpstreamCredentials;
  /** Time allowed until response headers arrive (token and redirects included). */
  timeoutMs: number;
  /** Injected in unit tests; the global fetch otherwise. */
  fetcher?: Fetcher;
}

export interface UpstreamRequest {
  method: 'GET' | 'HEAD';
  /** Path plus query, starting with /v2/. */
  path: string;
  /** Token scope, e.g. repository:library/alpine:pull. */
  scope?: string;
  accept?: string;
  /** A Range header, e.g. `bytes=1048576-` to continue a blob; the upstream may ignore it (200). */
  range?: string;
  /** OCI code for an upstream 404. */
  notFound: OciErrorCode;
  /** What is fetched, for error messages. */
  what: string;
}

export interface UpstreamResponse {
  /** A 2xx response; its body is still the native fetch body (tee it directly). */
  response: Response;
  signal: AbortSignal;
  /** Aborts the transfer; the body then errors with `reason`. */
  abort(reason: unknown): void;
}

const MAX_REDIRECTS = 5;
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
const USER_AGENT = 'fastreg-edge/0.1';

/**
 * One upstream registry: auth (Bearer token flow, Basic, static token), manual redirects without
 * Authorization, header timeout, error mapping and rate-limit recording. Non-2xx answers throw OciError.
 */
export class UpstreamClient {
  private readonly fetcher: Fetcher;

  constructor(private readonly options: UpstreamClientOptions) {
    this.fetcher = options.fetcher ?? ((url, init) => fetch(url, init));
  }

  get registry(): string {
    return this.options.registry;
  }

  get timeoutMs(): number {
    return this.options.timeoutMs;
  }

  async request(req: UpstreamRequest): Promise<UpstreamResponse> {
    const { registry, timeoutMs } = this.options;
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(upstreamTimeout(registry, 'headers')), timeoutMs);
    try {
      const response = await this.send(req, controller.signal);
      if (!response.ok) {
        discard(response);
        throw upstreamStatusError(registry, response, req.notFound, req.what);
      }
      return { response, signal: controller.signal, abort: (reason) => controller.abort(reason) };
    } catch (err) {
      upstreamStats(registry).errors += 1;
      throw upstreamFetchError(registry, err, controller.signal);
    } finally {
      clearTimeout(timer);
    }
  }

  private async send(req: UpstreamRequest, signal: AbortSignal): Promise<Response> {
    let url = `${this.options.baseUrl}${req.path}`;
    const headers = new Headers({ 'User-Agent': USER_AGENT });
    if (req.accept) headers.set('Accept', req.accept);
    if (req.range) headers.set('Range', req.range);
    const preset = this.presetAuthorization(req.scope);
    if (preset) headers.set('Authorization', preset);

    let res = await this.fetchOnce(url, req.method, headers, signal);
    if (res.status === 401) {
      const authorization = await this.answerChallenge(parseChallenge(res.headers.get('WWW-Authenticate')), req.scope, signal);
      if (authorization) {
        discard(res);
        headers.set('Authorization', authorization);
        res = await this.fetchOnce(url, req.method, headers, signal);
      }
    }
    // Docker Hub answers blob GETs with a 307 to a CDN, which must never see our Authorization.
    for (let hop = 0; REDIRECT_STATUSES.has(res.status); hop++) {
      const location = res.headers.get('Location');
      if (!location) break;
      if (hop >= MAX_REDIRECTS) throw new OciError('UPSTREAM_FAILED', `upstream ${this.registry} redirected more than ${MAX_REDIRECTS} times`);
      discard(res);
      url = new URL(location, url).toString();
      headers.delete('Authorization');
      res = await this.fetchOnce(url, req.method, headers, signal);
    }
    return res;
  }

  private async fetchOnce(url: string, method: string, headers: Headers, signal: AbortSignal): Promise<Response> {
    upstreamStats(this.registry).requests += 1;
    const res = await this.fetcher(url, { method, headers, signal, redirect: 'manual' });
    recordUpstreamResponse(this.registry, res);
    return res;
  }

  private presetAuthorization(scope: string | undefined): string | undefined {
    const { credentials, baseUrl } = this.options;
    if (credentials && 'token' in credentials) return `Bearer ${credentials.token}`;
    const token = cachedToken(baseUrl, scope ?? '');
    return token ? `Bearer ${token}` : undefined;
  }

  private async answerChallenge(challenge: AuthChallenge | undefined, scope: string | undefined, signal: AbortSignal): Promise<string | undefined> {
    const { credentials } = this.options;
    if (challenge?.scheme === 'bearer' && challenge.params.realm) {
      return `Bearer ${await this.fetchToken(challenge.params, scope, signal)}`;
    }
    if (challenge?.scheme === 'basic' && hasPassword(credentials)) return basicAuthorization(credentials);
    return undefined;
  }

  /** GET realm?service=&scope=, with Basic credentials when configured; caches the token per scope. */
  private async fetchToken(params: Record<string, string>, requestedScope: string | undefined, signal: AbortSignal): Promise<string> {
    const { credentials, baseUrl } = this.options;
    let tokenUrl: URL;
    try {
      tokenUrl = new URL(params.realm ?? '');
    } catch {
      throw new OciError('UPSTREAM_FAILED', `upstream ${this.registry} sent an invalid token realm`);
    }
    if (tokenUrl.protocol !== 'https:' && tokenUrl.protocol !== 'http:') {
      throw new OciError('UPSTREAM_FAILED', `upstream ${this.registry} sent a non-http token realm`);
    }
    const scope = params.scope ?? requestedScope;
    if (params.service) tokenUrl.searchParams.set('service', params.service);
    if (scope) tokenUrl.searchParams.set('scope', scope);
    const headers = new Headers({ 'User-Agent': USER_AGENT });
    if (hasPassword(credentials)) headers.set('Authorization', basicAuthorization(credentials));

    const res = await this.fetchOnce(tokenUrl.toString(), 'GET', headers, signal);
    if (!res.ok) {
      discard(res);
      throw upstreamStatusError(this.registry, res, 'UPSTREAM_FAILED', 'an auth token');
    }
    let body: { token?: unknown; access_token?: unknown; expires_in?: unknown };
    try {
      body = (await res.json()) as typeof body;
    } catch (err) {
      throw new OciError('UPSTREAM_FAILED', `upstream ${this.registry} token endpoint sent invalid JSON`, { cause: err });
    }
    const token = typeof body.token === 'string' ? body.token : typeof body.access_token === 'string' ? body.access_token : undefined;
    if (!token) throw new OciError('UPSTREAM_FAILED', `upstream ${this.registry} token endpoint sent no token`);
    // Distribution's token spec: expires_in defaults to 60 s.
    const expiresIn = typeof body.expires_in === 'number' && body.expires_in > 0 ? body.expires_in : 60;
    storeToken(baseUrl, requestedScope ?? scope ?? '', token, expiresIn);
    return token;
  }
}

function discard(res: Response): void {
  res.body?.cancel().catch(() => undefined);
}
