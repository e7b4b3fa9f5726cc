import type { ServiceInfo } from '../edge/services-client.js';

/** One `[field, value]` row per info field (`info.cpu`, `info.extra.zone`), so a record's table stays narrow. */
export function infoRows(info: ServiceInfo): [string, string][] {
  const rows: [string, string][] = [];
  for (const [key, value] of Object.entries(info)) {
    if (value === undefined) continue;
    if (key === 'extra' && typeof value === 'object' && value !== null) {
      for (const [extraKey, extraValue] of Object.entries(value as Record<string, unknown>)) {
        rows.push([`info.extra.${extraKey}`, String(extraValue)]);
      }
    } else {
      rows.push([`info.${key}`, typeof value === 'object' ? JSON.stringify(value) : String(value)]);
    }
  }
  return rows;
}
