import { OciError } from './errors.js';

export interface ByteRange {
  offset: number;
  length: number;
  /** Inclusive last byte, for Content-Range. */
  end: number;
}

/**
 * Parses a single `Range: bytes=…` header against a known size. Returns undefined when there is
 * no header. Multi-range, inverted or unsatisfiable ranges throw RANGE_INVALID (416) — R2 would
 * silently return the whole object for those.
 */
export function parseRange(header: string | null | undefined, size: number): ByteRange | undefined {
  if (header === null || header === undefined || header === '') return undefined;
  const match = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  const unsatisfiable = () =>
    new OciError('RANGE_INVALID', `range "${header.slice(0, 80)}" is not satisfiable for ${size} bytes`, {
      headers: { 'Content-Range': `bytes */${size}` },
    });
  if (!match) throw unsatisfiable();
  const [, startText = '', endText = ''] = match;
  let start: number;
  let end: number;
  if (startText === '') {
    if (endText === '') throw unsatisfiable();
    const suffix = Number(endText);
    if (suffix === 0) throw unsatisfiable();
    start = Math.max(0, size - suffix);
    end = size - 1;
  } else {
    start = Number(startText);
    end = endText === '' ? size - 1 : Math.min(Number(endText), size - 1);
  }
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start > end || start >= size) throw unsatisfiable();
  return { offset: start, length: end - start + 1, end };
}

export function contentRange(range: ByteRange, size: number): string {
  return `bytes ${range.offset}-${range.end}/${size}`;
}
