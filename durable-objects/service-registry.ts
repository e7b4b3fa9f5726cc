import { DurableObject } from 'cloudflare:workers';
import type { Actor, RecordInput, ResourceInfo, ResourceInput, SearchHit, ServiceEventType, ServiceRecord } from '../workers/shared/services/records.js';
import { DEFAULT_TTL_SECONDS } from '../workers/shared/services/records.js';
import { queryTerms, scoreRecord, searchText } from './service-records/search.js';
import { SseHub } from './service-records/sse-hub.js';

/** Name of the one instance that lists resources (the resource grammar cannot produce it). */
export const RESOURCE_INDEX_NAME = '_index';

export type RegistryResult<T> = { ok: true; value: T } | { ok: false; code: 'NOT_FOUND' | 'DENIED'; message: string };

export interface Page<T> {
  items: T[];
  nextCursor?: string;
}

interface RecordRow extends Record<string, SqlStorageValue> {
  id: string;
  body: string;
  expires_at: number;
}

interface SearchRow extends RecordRow {
  name: string;
  tags: string;
  search: string;
}

/**
 * Service records of one resource: one object per resource (`getByName(resource)`), SQLite-backed.
 * Expired records are invisible at once and collected by an alarm set to the earliest expiry.
 * Watchers subscribe with `fetch` (an SSE stream) and see add, update, delete and expire events.
 * The instance named RESOURCE_INDEX_NAME only keeps the list of resources.
 *
 * The tables are made by the first write: an object that is only read or watched (a resource
 * nobody created) stores nothing.
 */
export class ServiceRegistry extends DurableObject<Env> {
  private readonly sql: SqlStorage;
  private readonly hub = new SseHub();
  private hasTables: boolean;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.hasTables = this.sql.exec(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'`).toArray().length > 0;
  }

  private createTables(): void {
    if (this.hasTables) return;
    this.sql.exec(`CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)`);
    this.sql.exec(`CREATE TABLE IF NOT EXISTS records (
      id TEXT PRIMARY KEY, owner TEXT NOT NULL, name TEXT NOT NULL, category TEXT,
      tags TEXT NOT NULL, search TEXT NOT NULL, body TEXT NOT NULL, expires_at INTEGER NOT NULL)`);
    this.sql.exec(`CREATE INDEX IF NOT EXISTS records_expiry ON records (expires_at)`);
    this.sql.exec(`CREATE TABLE IF NOT EXISTS resources (name TEXT PRIMARY KEY, body TEXT NOT NULL)`);
    this.hasTables = true;
  }

  // ---- resource ----

  getResource(): ResourceInfo | null {
    const stored = this.storedResource();
    if (!stored) return null;
    const records = this.sql.exec<{ n: number }>(`SELECT COUNT(*) AS n FROM records WHERE expires_at > ?`, Date.now()).one().n;
    return { ...stored, records };
  }

  private storedResource(): Omit<ResourceInfo, 'records'> | null {
    if (!this.hasTables) return null;
    const row = this.sql.exec<{ value: string }>(`SELECT value FROM meta WHERE key = 'resource'`).toArray()[0];
    return row ? (JSON.parse(row.value) as Omit<ResourceInfo, 'records'>) : null;
  }

  /** The resource is listed in the index object; until then every record write asks the caller to list it. */
  markIndexed(): void {
    this.createTables();
    this.sql.exec(`INSERT OR REPLACE INTO meta (key, value) VALUES ('indexed', '1')`);
  }

  private isIndexed(): boolean {
    return this.hasTables && this.sql.exec(`SELECT 1 FROM meta WHERE key = 'indexed'`).toArray().length > 0;
  }

  /** Creates the resource, or updates its description (owner or admin only). */
  putResource(name: string, input: ResourceInput, actor: Actor): RegistryResult<{ resource: ResourceInfo; created: boolean }> {
    const existing = this.getResource();
    if (existing && !actor.admin && existing.owner !== actor.identity) {
      return { ok: false, code: 'DENIED', message: `resource "${name}" belongs to "${existing.owner}"` };
    }
    const stored: Omit<ResourceInfo, 'records'> = existing
      ? { name: existing.name, owner: existing.owner, createdAt: existing.createdAt, ...pick(input.description, existing.description) }
      : { name, owner: actor.identity, createdAt: new Date().toISOString(), ...pick(input.description, undefined) };
    this.createTables();
    this.sql.exec(`INSERT OR REPLACE INTO meta (key, value) VALUES ('resource', ?)`, JSON.stringify(stored));
    return { ok: true, value: { resource: this.getResource()!, created: !existing } };
  }

  // ---- records ----

  getRecord(id: string): ServiceRecord | null {
    if (!this.hasTables) return null;
    const row = this.sql.exec<RecordRow>(`SELECT id, body, expires_at FROM records WHERE id = ? AND expires_at > ?`, id, Date.now()).toArray()[0];
    return row ? toRecord(row) : null;
  }

  listRecords(limit: number, after?: string): Page<ServiceRecord> {
    if (!this.hasTables) return { items: [] };
    const rows = this.sql
      .exec<RecordRow>(`SELECT id, body, expires_at FROM records WHERE id > ? AND expires_at > ? ORDER BY id LIMIT ?`, after ?? '', Date.now(), limit + 1)
      .toArray();
    const items = rows.slice(0, limit).map(toRecord);
    return rows.length > limit ? { items, nextCursor: items.at(-1)!.id } : { items };
  }

  /**
   * Unexpired records that have an endpoint and an observed address, reduced to what the edge's
   * site redirect needs (it caches this per isolate), soonest-expiring last. Only records of the
   * sidecar role count (a sidecar writes only the record named by its own peer ID, owner
   * `sidecar:<id>`) and records the admin wrote by hand: an owner token must not be able to steer its
   * site's pulls to an endpoint of its choosing.
   */
  liveSidecars(limit: number): { id: string; endpoint: string; observedIp: string; expiresAt: number; multiaddrs: string[] }[] {
    if (!this.hasTables) return [];
    return this.sql
      .exec<{ id: string; endpoint: string; observed_ip: string; expires_at: number; multiaddrs: string | null }>(
        `SELECT id, json_extract(body, '$.endpoint') AS endpoint, json_extract(body, '$.observedIp') AS observed_ip, expires_at,
           json_extract(body, '$.multiaddrs') AS multiaddrs
         FROM records WHERE expires_at > ? AND endpoint IS NOT NULL AND observed_ip IS NOT NULL
           AND (owner = 'admin' OR owner = 'sidecar:' || id) ORDER BY expires_at DESC LIMIT ?`,
        Date.now(),
        Math.max(0, Math.min(limit, 10_000)),
      )
      .toArray()
      .map((row) => ({ id: row.id, endpoint: row.endpoint, observedIp: row.observed_ip, expiresAt: row.expires_at, multiaddrs: parseAddrs(row.multiaddrs) }));
  }

  /** Adds or replaces a record. The first writer owns it; others get DENIED unless admin. */
  async putRecord(
    resource: string,
    id: string,
    input: RecordInput,
    actor: Actor,
    observedIp?: string,
  ): Promise<RegistryResult<{ record: ServiceRecord; created: boolean; resourceToIndex?: Omit<ResourceInfo, 'records'> }>> {
    if (!this.storedResource()) this.putResource(resource, {}, actor);
    const previous = this.getRecord(id);
    if (previous && !actor.admin && previous.owner !== actor.identity) {
      return { ok: false, code: 'DENIED', message: `record "${id}" belongs to "${previous.owner}"` };
    }
    const now = Date.now();
    const ttlSeconds = input.ttlSeconds ?? DEFAULT_TTL_SECONDS;
    const record: ServiceRecord = {
      resource,
      id,
      name: input.name,
      ...(input.version !== undefined && { version: input.version }),
      ...(input.description !== undefined && { description: input.description }),
      ...(input.endpoint !== undefined && { endpoint: input.endpoint }),
      ...(input.peerId !== undefined && { peerId: input.peerId }),
      multiaddrs: input.multiaddrs ?? [],
      info: input.info ?? {},
      tags: [...new Set(input.tags ?? [])],
      ...(input.category !== undefined && { category: input.category }),
      ttlSeconds,
      owner: previous?.owner ?? actor.identity,
      ...(observedIp !== undefined && { observedIp }),
      createdAt: previous?.createdAt ?? new Date(now).toISOString(),
      updatedAt: new Date(now).toISOString(),
      expiresAt: new Date(now + ttlSeconds * 1000).toISOString(),
    };
    this.writeRecord(record, now + ttlSeconds * 1000);
    await this.scheduleExpiry(now + ttlSeconds * 1000);
    this.emit(previous ? 'update' : 'add', record);
    const resourceToIndex = this.isIndexed() ? undefined : (this.storedResource() ?? undefined);
    return { ok: true, value: { record, created: !previous, ...(resourceToIndex && { resourceToIndex }) } };
  }

  async deleteRecord(id: string, actor: Actor): Promise<RegistryResult<ServiceRecord>> {
    const record = this.getRecord(id);
    if (!record) return { ok: false, code: 'NOT_FOUND', message: `no record "${id}"` };
    if (!actor.admin && record.owner !== actor.identity) {
      return { ok: false, code: 'DENIED', message: `record "${id}" belongs to "${record.owner}"` };
    }
    this.sql.exec(`DELETE FROM records WHERE id = ?`, id);
    this.emit('delete', record);
    return { ok: true, value: record };
  }

  /**
   * Extends the record's life by its TTL from now, and records the address the heartbeat came from:
   * a sidecar whose address changed (DHCP, another NAT) moves to its new site without re-registering.
   */
  async heartbeat(id: string, actor: Actor, observedIp?: string): Promise<RegistryResult<ServiceRecord>> {
    const record = this.getRecord(id);
    if (!record) return { ok: false, code: 'NOT_FOUND', message: `no record "${id}" (it may have expired)` };
    if (!actor.admin && record.owner !== actor.identity) {
      return { ok: false, code: 'DENIED', message: `record "${id}" belongs to "${record.owner}"` };
    }
    const expiresAt = Date.now() + record.ttlSeconds * 1000;
    const renewed = { ...record, expiresAt: new Date(expiresAt).toISOString(), ...(observedIp !== undefined && { observedIp }) };
    this.sql.exec(`UPDATE records SET expires_at = ?, body = ? WHERE id = ?`, expiresAt, JSON.stringify(renewed), id);
    await this.scheduleExpiry(expiresAt);
    if (renewed.observedIp !== record.observedIp) this.emit('update', renewed);
    return { ok: true, value: renewed };
  }

  /**
   * Text, all-of tags and exact category; best score first, ties by id. SQL narrows the candidates
   * (category, tags and every term as substrings); scoring reads columns, and only the hits returned
   * have their bodies parsed.
   */
  search(query: { q?: string; tags?: string[]; category?: string; limit: number }): SearchHit[] {
    if (!this.hasTables) return [];
    const terms = queryTerms(query.q);
    let sqlText = `SELECT id, name, tags, search, body, expires_at FROM records WHERE expires_at > ?`;
    const params: SqlStorageValue[] = [Date.now()];
    if (query.category !== undefined) {
      sqlText += ` AND category = ?`;
      params.push(query.category);
    }
    for (const tag of new Set(query.tags ?? [])) {
      sqlText += ` AND instr(tags, ?) > 0`;
      params.push(`,${tag},`);
    }
    for (const term of terms) {
      sqlText += ` AND instr(search, ?) > 0`;
      params.push(term);
    }
    const scored: { score: number; row: SearchRow }[] = [];
    for (const row of this.sql.exec<SearchRow>(sqlText, ...params)) {
      const score = scoreRecord({ id: row.id, name: row.name, tags: row.tags.split(',').filter(Boolean), text: row.search }, terms);
      if (score > 0) scored.push({ score, row });
    }
    scored.sort((a, b) => b.score - a.score || (a.row.id < b.row.id ? -1 : 1));
    return scored.slice(0, query.limit).map(({ score, row }) => ({ score, record: toRecord(row) }));
  }

  // ---- resource index (only on the RESOURCE_INDEX_NAME instance) ----

  indexResource(resource: Omit<ResourceInfo, 'records'>): void {
    this.createTables();
    this.sql.exec(`INSERT OR REPLACE INTO resources (name, body) VALUES (?, ?)`, resource.name, JSON.stringify(resource));
  }

  /** Whether a resource of this name was ever created (reads of unknown ones are answered without its object). */
  isListed(name: string): boolean {
    return this.hasTables && this.sql.exec(`SELECT 1 FROM resources WHERE name = ?`, name).toArray().length > 0;
  }

  listResources(limit: number, after?: string): Page<Omit<ResourceInfo, 'records'>> {
    if (!this.hasTables) return { items: [] };
    const rows = this.sql
      .exec<{ name: string; body: string }>(`SELECT name, body FROM resources WHERE name > ? ORDER BY name LIMIT ?`, after ?? '', limit + 1)
      .toArray();
    const items = rows.slice(0, limit).map((row) => JSON.parse(row.body) as Omit<ResourceInfo, 'records'>);
    return rows.length > limit ? { items, nextCursor: items.at(-1)!.name } : { items };
  }

  // ---- watch and expiry ----

  /** The only HTTP entry: an SSE stream of this resource's changes. */
  override async fetch(): Promise<Response> {
    return this.hub.open();
  }

  /** Collects every expired record, then re-arms for the next expiry. Safe to run any number of times. */
  override async alarm(): Promise<void> {
    if (!this.hasTables) return;
    const now = Date.now();
    const expired = this.sql.exec<RecordRow>(`SELECT id, body, expires_at FROM records WHERE expires_at <= ? ORDER BY expires_at`, now).toArray();
    this.sql.exec(`DELETE FROM records WHERE expires_at <= ?`, now);
    for (const row of expired) this.emit('expire', toRecord(row));
    const next = this.sql.exec<{ next: number | null }>(`SELECT MIN(expires_at) AS next FROM records`).one().next;
    if (next === null) await this.ctx.storage.deleteAlarm();
    else await this.ctx.storage.setAlarm(next);
  }

  /** Number of open watch streams (for tests and stats). */
  watcherCount(): number {
    return this.hub.size;
  }

  private writeRecord(record: ServiceRecord, expiresAt: number): void {
    this.createTables();
    this.sql.exec(
      `INSERT OR REPLACE INTO records (id, owner, name, category, tags, search, body, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      record.id,
      record.owner,
      record.name,
      record.category ?? null,
      // Delimited so that instr(tags, ',tag,') is an exact tag match.
      `,${record.tags.join(',')},`,
      searchText(record),
      JSON.stringify(record),
      expiresAt,
    );
  }

  private async scheduleExpiry(at: number): Promise<void> {
    const current = await this.ctx.storage.getAlarm();
    if (current === null || current > at) await this.ctx.storage.setAlarm(at);
  }

  private emit(type: ServiceEventType, record: ServiceRecord): void {
    this.hub.send(type, { type, resource: record.resource, id: record.id, record, at: new Date().toISOString() });
  }
}

/** The expires_at column is the truth (tests move it); the body's copy follows it. */
function toRecord(row: RecordRow): ServiceRecord {
  const record = JSON.parse(row.body) as ServiceRecord;
  record.expiresAt = new Date(row.expires_at).toISOString();
  return record;
}

function pick(next: string | undefined, previous: string | undefined): { description?: string } {
  const description = next ?? previous;
  return description === undefined ? {} : { description };
}

/** The multiaddrs column of a record (a JSON array); empty when absent or malformed. */
function parseAddrs(json: string | null): string[] {
  if (!json) return [];
  try {
    const value: unknown = JSON.parse(json);
    return Array.isArray(value) ? value.filter((item): item is string => typeof item === 'string') : [];
  } catch {
    return [];
  }
}
