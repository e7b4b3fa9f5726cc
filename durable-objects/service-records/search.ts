import type { ServiceRecord } from '../../workers/shared/services/records.js';

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

/** What scoring looks at; `text` is searchText() of the record. */
export interface ScoredFields {
  id: string;
  name: string;
  tags: string[];
  text: string;
}

/** Score of a record for the terms: 0 when some term matches nothing. */
export function scoreRecord(fields: ScoredFields, terms: string[]): number {
  if (terms.length === 0) return 1;
  const id = fields.id.toLowerCase();
  const name = fields.name.toLowerCase();
  const tags = fields.tags;
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
    // Terms hold no whitespace, so a match in the newline-joined text that is not in id, name or tags is
    // in the description, category or version.
    if (best === 0 && fields.text.includes(term)) best = WEIGHTS.other;
    if (best === 0) return 0;
    total += best;
  }
  return total;
}
