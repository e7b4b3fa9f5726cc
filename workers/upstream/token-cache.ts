// Bearer tokens per (upstream, scope), kept in the isolate until shortly before they expire.

interface CachedToken {
  token: string;
  expiresAt: number;
}

const MAX_ENTRIES = 1024;
/** Give up a token this long before it expires, so a request never starts with a dying token. */
const EXPIRY_MARGIN_MS = 10_000;
const tokens = new Map<string, CachedToken>();

function key(upstream: string, scope: string): string {
  return `${upstream} ${scope}`;
}

export function cachedToken(upstream: string, scope: string, now = Date.now()): string | undefined {
  const entry = tokens.get(key(upstream, scope));
  if (!entry) return undefined;
  if (entry.expiresAt <= now) {
    tokens.delete(key(upstream, scope));
    return undefined;
  }
  return entry.token;
}

export function storeToken(upstream: string, scope: string, token: string, expiresInSeconds: number, now = Date.now()): void {
  if (tokens.size >= MAX_ENTRIES) {
    const oldest = tokens.keys().next().value;
    if (oldest !== undefined) tokens.delete(oldest);
  }
  const lifetimeMs = Math.max(0, expiresInSeconds * 1000 - EXPIRY_MARGIN_MS);
  tokens.set(key(upstream, scope), { token, expiresAt: now + lifetimeMs });
}
