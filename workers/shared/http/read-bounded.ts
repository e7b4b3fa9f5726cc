// The one bounded body reader, for the edge and the sidecar alike (Web-standard only): request and
// response bodies, a Node request or stdin are all async iterables of bytes.

export interface ReadBoundedOptions {
  /** The error thrown as soon as more than `limit` bytes have arrived (a Content-Length is not trusted). */
  tooLarge: () => Error;
  /** Called on every chunk (a stall watchdog's touch). */
  onChunk?: () => void;
}

/** Reads a whole body of at most `limit` bytes; stopping early cancels the stream. No body reads as empty. */
export async function readBounded(body: AsyncIterable<Uint8Array> | null | undefined, limit: number, options: ReadBoundedOptions): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of body ?? []) {
    options.onChunk?.();
    size += chunk.byteLength;
    // Throwing out of the loop cancels the stream.
    if (size > limit) throw options.tooLarge();
    chunks.push(chunk);
  }
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return bytes;
}
