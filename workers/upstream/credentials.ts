/** Credentials for one upstream, from the UPSTREAM_CREDENTIALS secret. */
export type UpstreamCredentials = { username: string; password: string } | { token: string };

export function basicAuthorization(credentials: { username: string; password: string }): string {
  const bytes = new TextEncoder().encode(`${credentials.username}:${credentials.password}`);
  let binary = '';
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return `Basic ${btoa(binary)}`;
}

export function hasPassword(credentials: UpstreamCredentials | undefined): credentials is { username: string; password: string } {
  return credentials !== undefined && 'username' in credentials;
}
