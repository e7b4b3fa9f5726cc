import { OciError, type OciErrorCode } from '../shared/oci/index.js';

/** Maps a final (non-2xx) upstream response to the OciError the client sees. */
export function upstreamStatusError(registry: string, res: Response, notFound: OciErrorCode, what: string): OciError {
  const status = res.status;
  if (status === 404) return new OciError(notFound, `${what} not found on upstream ${registry}`);
  if (status === 429) {
    const retryAfter = res.headers.get('Retry-After');
    return new OciError('TOOMANYREQUESTS', `upstream ${registry} is rate-limiting FastReg`, {
      headers: retryAfter ? { 'Retry-After': retryAfter } : {},
    });
  }
  if (status === 401 || status === 403) {
    return new OciError('DENIED', `upstream ${registry} refused access to ${what} (HTTP ${status}); check UPSTREAM_CREDENTIALS`);
  }
  return new OciError('UPSTREAM_FAILED', `upstream ${registry} answered HTTP ${status} for ${what}`, { detail: { status } });
}

export function upstreamTimeout(registry: string, phase: 'headers' | 'body'): OciError {
  return new OciError('UPSTREAM_TIMEOUT', `upstream ${registry} did not ${phase === 'headers' ? 'answer' : 'send data'} in time`);
}

/** A failed fetch: our own timeout (the abort reason), or a network failure. */
export function upstreamFetchError(registry: string, err: unknown, signal: AbortSignal): OciError {
  if (signal.aborted && signal.reason instanceof OciError) return signal.reason;
  if (err instanceof OciError) return err;
  return new OciError('UPSTREAM_FAILED', `upstream ${registry} is unreachable`, { cause: err });
}
