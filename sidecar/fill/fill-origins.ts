// The repositories one fill was asked for. A digest names the same bytes in every repository, so
// one fill serves every caller; but the edge may refuse one repository (a 404 for a wrong name, a
// 403) and serve another, so a fill asks the edge for each caller's origin in turn before it
// fails, and one caller's bad name never fails another caller's pull.
import type { BlobOrigin } from '../edge/edge-source.js';

/** Distinct origins one fill asks the edge for: bounds what a loop of bad names costs per fill. */
export const MAX_FILL_ORIGINS = 8;

export class FillOrigins {
  private readonly queue: BlobOrigin[] = [];
  /** Origin key → the edge's refusal status once it refused that origin (0 while not refused). */
  private readonly keys = new Map<string, number>();
  private asked = 0;
  /** Every origin was asked: an origin added now would never be. */
  private exhausted = false;

  /**
   * Adds a caller's origin. False when the fill will not ask the edge for it (it has too many
   * already, or has asked for all it had): that caller tries by itself if the fill fails. A caller
   * with the origin of one already asked shares its answer; a bare digest (no origin) needs nothing.
   */
  add(origin: BlobOrigin | undefined): boolean {
    if (!origin) return true;
    const key = originKey(origin);
    if (this.keys.has(key)) return true;
    if (this.exhausted || this.keys.size >= MAX_FILL_ORIGINS) return false;
    this.keys.set(key, 0);
    this.queue.push(origin);
    return true;
  }

  /** The next origin the edge has not been asked for, in the order callers came. */
  next(): BlobOrigin | undefined {
    if (this.asked < this.queue.length) return this.queue[this.asked++];
    this.exhausted = true;
    return undefined;
  }

  /** Records that the edge refused `origin` with `status`. */
  refuse(origin: BlobOrigin, status: number): void {
    this.keys.set(originKey(origin), status);
  }

  /** The edge's refusal of `origin`, if it refused it: what a caller for that origin is told. */
  refusal(origin: BlobOrigin | undefined): number | undefined {
    return (origin && this.keys.get(originKey(origin))) || undefined;
  }

  get size(): number {
    return this.queue.length;
  }
}

function originKey(origin: BlobOrigin): string {
  return `${origin.ns ?? ''}/${origin.name}`;
}
