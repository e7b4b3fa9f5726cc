// What `fastreg doctor` reports: one finding per check, each with the exact fix when it is not ok.

export type FindingStatus = 'ok' | 'warn' | 'fail' | 'skip';

export interface Finding {
  /** Stable id, e.g. `docker.registry-mirrors`, `containerd.hosts.ghcr.io`. */
  id: string;
  status: FindingStatus;
  /** One line: what was found. */
  summary: string;
  /** What to do, exactly (commands or file contents), when the status is warn or fail. */
  fix?: string;
}

export const ok = (id: string, summary: string): Finding => ({ id, status: 'ok', summary });
export const skip = (id: string, summary: string): Finding => ({ id, status: 'skip', summary });
export const warn = (id: string, summary: string, fix: string): Finding => ({ id, status: 'warn', summary, fix });
export const fail = (id: string, summary: string, fix: string): Finding => ({ id, status: 'fail', summary, fix });

/** Normalizes a mirror URL for comparison: lowercase scheme and host, no trailing slash. */
export function sameUrl(a: string, b: string): boolean {
  const norm = (u: string) => {
    try {
      const url = new URL(u);
      return `${url.protocol}//${url.host}${url.pathname.replace(/\/+$/, '')}`;
    } catch {
      return u.replace(/\/+$/, '');
    }
  };
  return norm(a) === norm(b);
}
