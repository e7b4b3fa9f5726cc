// Wire format of /fastreg/blob/1.0.0. Each side sends one frame: a 4-byte big-endian length and a
// JSON object carrying `v: 1`. The response frame is followed by the blob's bytes from `offset`
// to the end; the server then closes its write side. A blob that is still filling is served the
// same way: `size` is the full size and the bytes follow as they arrive. `busy` means the server
// already streams this blob to as many peers as it allows; `peers` are some of those receiving it,
// to ask instead (the fan-out tree, see fan-out.ts).
import { z } from 'zod';
import { parseDigest } from '../../workers/shared/oci/index.js';
import type { StreamReader } from './stream-io.js';
import { ProtocolError } from '../errors.js';

export const WIRE_VERSION = 1;
const MAX_FRAME_BYTES = 4096;

export const BlobRequest = z.object({
  v: z.literal(WIRE_VERSION),
  // Parsed once here; the handler passes the Digest on.
  digest: z.string().transform((value) => parseDigest(value)),
  offset: z.number().int().nonnegative().default(0),
});
export type BlobRequest = z.output<typeof BlobRequest>;

/** Most peers a `busy` answer points at (they must fit in one frame). */
export const MAX_POINTERS = 4;
const MAX_POINTER_ADDRS = 4;

export const PeerPointer = z.object({
  id: z.string().min(1).max(128),
  addrs: z.array(z.string().max(200)).max(MAX_POINTER_ADDRS),
});
export type PeerPointer = z.output<typeof PeerPointer>;

export const BlobResponse = z.object({
  v: z.literal(WIRE_VERSION),
  status: z.enum(['ok', 'not_found', 'bad_request', 'error', 'busy']),
  size: z.number().int().nonnegative().optional(),
  offset: z.number().int().nonnegative().optional(),
  message: z.string().max(500).optional(),
  peers: z.array(PeerPointer).max(MAX_POINTERS).optional(),
});
export type BlobResponse = z.output<typeof BlobResponse>;

export function encodeFrame(value: object): Uint8Array {
  const body = new TextEncoder().encode(JSON.stringify(value));
  const frame = new Uint8Array(4 + body.byteLength);
  new DataView(frame.buffer).setUint32(0, body.byteLength);
  frame.set(body, 4);
  return frame;
}

export async function readFrame<T>(reader: StreamReader, schema: z.ZodType<T>, signal?: AbortSignal): Promise<T> {
  const lengthBytes = await reader.readExactly(4, signal);
  const length = new DataView(lengthBytes.buffer, lengthBytes.byteOffset, 4).getUint32(0);
  if (length > MAX_FRAME_BYTES) throw new ProtocolError(`frame of ${length} bytes exceeds ${MAX_FRAME_BYTES}`);
  const body = await reader.readExactly(length, signal);
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder().decode(body));
  } catch {
    throw new ProtocolError('frame is not JSON');
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) throw new ProtocolError(`bad frame: ${parsed.error.issues[0]?.message ?? 'invalid'}`);
  return parsed.data;
}
