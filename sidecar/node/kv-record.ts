// DHT key/value records under /fastreg/<key>. Values are JSON envelopes carrying a sequence number
// (writer's clock in ms); the selector keeps the newest, so a later put wins everywhere. Records
// come from any peer of the swarm, so the envelope is strict (no other fields), bounded in size,
// and its seq may run ahead of this node's clock by MAX_KV_CLOCK_SKEW_MS at most: a record dated in
// the far future would otherwise win over every later put.
import { z } from 'zod';
import { OciError } from '../../workers/shared/oci/index.js';

export const KV_KEY = /^[A-Za-z0-9._:@-][A-Za-z0-9._:@/-]{0,199}$/;
export const MAX_KV_VALUE_BYTES = 16 * 1024;
/** A whole envelope: room for a value of MAX_KV_VALUE_BYTES even when JSON escapes every character. */
export const MAX_KV_RECORD_BYTES = 6 * MAX_KV_VALUE_BYTES + 64;
/** How far a record's seq may be ahead of this node's clock (clocks of a site's hosts disagree a little). */
export const MAX_KV_CLOCK_SKEW_MS = 5 * 60_000;

const Envelope = z.strictObject({
  v: z.literal(1),
  seq: z.number().int().nonnegative(),
  value: z.string().refine((value) => Buffer.byteLength(value) <= MAX_KV_VALUE_BYTES, `kv values are limited to ${MAX_KV_VALUE_BYTES} bytes`),
});
export type KvEnvelope = z.infer<typeof Envelope>;

export function validateKvKey(key: string): string {
  if (!KV_KEY.test(key) || key.includes('..') || key.includes('//') || key.endsWith('/')) {
    throw new OciError('INVALID_REQUEST', 'invalid kv key: use 1-200 characters of [A-Za-z0-9._:@/-], no "..", "//" or trailing "/"');
  }
  return key;
}

export function dhtKey(key: string): Uint8Array {
  return new TextEncoder().encode(`/fastreg/${validateKvKey(key)}`);
}

export function encodeEnvelope(value: string, seq = Date.now()): Uint8Array {
  if (new TextEncoder().encode(value).byteLength > MAX_KV_VALUE_BYTES) {
    throw new OciError('PAYLOAD_TOO_LARGE', `kv values are limited to ${MAX_KV_VALUE_BYTES} bytes`);
  }
  return new TextEncoder().encode(JSON.stringify({ v: 1, seq, value } satisfies KvEnvelope));
}

/** Parses a stored or received envelope; throws on anything malformed, too large, or dated too far ahead. */
export function decodeEnvelope(bytes: Uint8Array, now = Date.now()): KvEnvelope {
  if (bytes.byteLength > MAX_KV_RECORD_BYTES) throw new Error(`kv record of ${bytes.byteLength} bytes exceeds ${MAX_KV_RECORD_BYTES}`);
  const envelope = Envelope.parse(JSON.parse(new TextDecoder().decode(bytes)));
  if (envelope.seq > now + MAX_KV_CLOCK_SKEW_MS) {
    throw new Error(`kv record seq ${envelope.seq} is more than ${MAX_KV_CLOCK_SKEW_MS} ms ahead of this node's clock`);
  }
  return envelope;
}

export function isValidEnvelope(bytes: Uint8Array): boolean {
  try {
    decodeEnvelope(bytes);
    return true;
  } catch {
    return false;
  }
}

/** kad-dht validator for the `fastreg` namespace: throws on anything that is not a well-formed envelope. */
export function validateKvRecord(key: Uint8Array, value: Uint8Array): void {
  const text = new TextDecoder().decode(key);
  if (!text.startsWith('/fastreg/')) throw new Error('kv key outside /fastreg/');
  validateKvKey(text.slice('/fastreg/'.length));
  decodeEnvelope(value);
}

/** kad-dht selector: index of the newest envelope (highest seq, ties broken by value so every node agrees). */
export function selectKvRecord(_key: Uint8Array, records: Uint8Array[]): number {
  let best = 0;
  let bestEnvelope: KvEnvelope | undefined;
  records.forEach((record, index) => {
    let envelope: KvEnvelope;
    try {
      envelope = decodeEnvelope(record);
    } catch {
      return;
    }
    if (!bestEnvelope || envelope.seq > bestEnvelope.seq || (envelope.seq === bestEnvelope.seq && envelope.value > bestEnvelope.value)) {
      best = index;
      bestEnvelope = envelope;
    }
  });
  return best;
}
