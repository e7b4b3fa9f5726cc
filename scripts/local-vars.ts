import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parseEnv } from 'node:util';

// Which local file set each var that overrides wrangler.toml [vars], the way wrangler itself loads
// them: `.dev.vars` next to wrangler.toml, or, only when there is none, `.env` then `.env.local`
// (the later file wins). wrangler's loader supplies the values; this only names where they came from.

export const DEV_VARS_FILE = '.dev.vars';
const ENV_FILES = ['.env', '.env.local'];

/** var name -> file name (relative to the config dir) for every var a local file sets. */
export function localVarSources(configDir: string): Record<string, string> {
  const devVars = path.join(configDir, DEV_VARS_FILE);
  const files = existsSync(devVars) ? [DEV_VARS_FILE] : ENV_FILES.filter((file) => existsSync(path.join(configDir, file)));
  const sources: Record<string, string> = {};
  for (const file of files) {
    for (const key of Object.keys(parseEnv(readFileSync(path.join(configDir, file), 'utf8')))) sources[key] = file;
  }
  return sources;
}

/** One line per setting a local file (.dev.vars) overrides, naming the file; secrets stay hidden. */
export function localSettingsBanner(sources: Record<string, string>, vars: Record<string, string>): string {
  const entries = Object.entries(sources);
  if (entries.length === 0) return '  local:     none (.dev.vars overrides wrangler.toml [vars]; see .dev.vars.example)\n';
  const lines = entries.map(([key, file]) => {
    const value = /TOKEN|CREDENTIAL|SECRET|PASSWORD/.test(key) ? '(hidden)' : JSON.stringify(vars[key]);
    return `    ${key} = ${value}   (from ${file})`;
  });
  return `  local:     ${entries.length} setting(s) override wrangler.toml [vars]\n${lines.join('\n')}\n`;
}

