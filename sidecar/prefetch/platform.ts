export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

const PLATFORM = /^([a-z0-9_-]+)\/([a-z0-9_-]+)(?:\/([a-z0-9_-]+))?$/;
const NODE_ARCH: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le' };

/** Parses `os/arch[/variant]`; undefined when the text is not one. */
export function parsePlatform(text: string): Platform | undefined {
  const match = PLATFORM.exec(text.trim().toLowerCase());
  if (!match) return undefined;
  const [, os = '', architecture = '', variant] = match;
  return { os, architecture, ...(variant && { variant }) };
}

/** The platform Docker pulls by default: its daemon runs Linux containers, on this machine's CPU. */
export function hostPlatform(): Platform {
  const architecture = NODE_ARCH[process.arch] ?? process.arch;
  if (architecture === 'arm') {
    const armVersion = (process.config.variables as { arm_version?: string }).arm_version;
    return { os: 'linux', architecture, variant: `v${armVersion ?? '7'}` };
  }
  return { os: 'linux', architecture };
}

export function formatPlatform(platform: Platform): string {
  return [platform.os, platform.architecture, platform.variant].filter(Boolean).join('/');
}

/** Docker's matcher: os and architecture must be equal; a wanted variant must be equal too (arm64 "v8" is the default). */
export function platformMatches(wanted: Platform, candidate: Platform): boolean {
  if (wanted.os !== candidate.os || wanted.architecture !== candidate.architecture) return false;
  if (!wanted.variant) return true;
  const normalize = (variant: string | undefined) => (candidate.architecture === 'arm64' && variant === undefined ? 'v8' : variant);
  return normalize(wanted.variant) === normalize(candidate.variant);
}
