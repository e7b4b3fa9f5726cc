// Small, bounded HTTP probes for `fastreg doctor`.

export interface Probe {
  /** HTTP status, or undefined when nothing answered. */
  status?: number;
  body?: string;
  /** Why nothing answered (refused, timeout, DNS…). */
  error?: string;
}

export async function probe(url: string, options: { timeoutMs: number; token?: string }): Promise<Probe> {
  try {
    const response = await fetch(url, {
      headers: options.token ? { Authorization: `Bearer ${options.token}` } : {},
      signal: AbortSignal.timeout(options.timeoutMs),
      redirect: 'manual',
    });
    const body = (await response.text()).slice(0, 64 * 1024);
    return { status: response.status, body };
  } catch (err) {
    if ((err as Error).name === 'TimeoutError') return { error: `no answer within ${options.timeoutMs} ms` };
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    return { error: cause?.code ?? cause?.message ?? (err as Error).message };
  }
}

/** A registry mirror answers GET /v2/ with 200, or 401 when pulls need a token. */
export const isRegistryAnswer = (result: Probe) => result.status === 200 || result.status === 401;
