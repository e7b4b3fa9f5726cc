import type { ServiceRecord } from './schema.js';

// Text scoring for service search. Every query term must match somewhere; matches on the id or name
// weigh most, then tags, then the category, version and description.

const WEIGHTS = { exact: 10, prefix: 6, contains: 4, tagExact: 5, tagContains: 2, other: 1 } as const;

export function queryTerms(q: string | undefined): string[] {
  return (q ?? '').toLowerCase().split(/\s+/).filter(Boolean).slice(0, 8);
}

/** The lowercased text a record is prefiltered on in SQL (instr per term), so scoring only sees candidates. */
export function searchText(record: Pick<ServiceRecord, 'id' | 'name' | 'description' | 'tags' | 'category' | 'version'>): string {
  return [record.id, record.name, record.description ?? '', record.tags.join(' '), record.category ?? '', record.version ?? '']
    .join('\n')
    .toLowerCase();
}

/** Score of a record for the terms: 0 when some term matches nothing. */
export function scoreRecord(record: ServiceRecord, terms: string[]): number {
  if (terms.length === 0) return 1;
  const id = record.id.toLowerCase();
  const name = record.name.toLowerCase();
  const tags = record.tags;
  const others = [record.description ?? '', record.category ?? '', record.version ?? ''].map((s) => s.toLowerCase());
  let total = 0;
  for (const term of terms) {
    let best = 0;
    for (const field of [id, name]) {
      if (field === term) best = Math.max(best, WEIGHTS.exact);
      else if (field.startsWith(term)) best = Math.max(best, WEIGHTS.prefix);
      else if (field.includes(term)) best = Math.max(best, WEIGHTS.contains);
    }
    for (const tag of tags) {
      if (tag === term) best = Math.max(best, WEIGHTS.tagExact);
      else if (tag.includes(term)) best = Math.max(best, WEIGHTS.tagContains);
    }
    if (best === 0 && others.some((field) => field.includes(term))) best = WEIGHTS.other;
    if (best === 0) return 0;
    total += best;
  }
  return total;
}
