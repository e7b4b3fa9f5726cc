import { OciError } from '../../workers/shared/oci/index.js';

/** Reads a small response body (a manifest), refusing more than `limit` bytes as they arrive. */
export async function readBounded(response: Response, limit: number, what: string): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of (response.body ?? []) as AsyncIterable<Uint8Array>) {
    size += chunk.byteLength;
    // Throwing out of the loop cancels the stream.
    if (size > limit) throw new OciError('MANIFEST_INVALID', `${what} is larger than ${limit} bytes`);
    parts.push(chunk);
  }
  return Buffer.concat(parts, size);
}
