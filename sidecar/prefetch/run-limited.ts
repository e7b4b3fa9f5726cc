/**
 * Runs `work` over the items with at most `limit` at a time, in order of the items. The first
 * failure aborts the others (through the signal they get) and is what this rejects with.
 */
export async function runLimited<T, R>(items: readonly T[], limit: number, signal: AbortSignal, work: (item: T, signal: AbortSignal) => Promise<R>): Promise<R[]> {
  const stop = new AbortController();
  const linked = AbortSignal.any([signal, stop.signal]);
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  let failure: { error: unknown } | undefined;
  const worker = async () => {
    while (next < items.length && !linked.aborted) {
      const at = next++;
      try {
        results[at] = await work(items[at] as T, linked);
      } catch (error) {
        failure ??= { error };
        stop.abort(error);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  if (failure) throw failure.error;
  signal.throwIfAborted();
  return results;
}
