// Registering the sidecar with the edge's service records, behind a seam: the sidecar only
// needs register-then-heartbeat. Wired when the edge's /services API is available.
export interface SidecarRecord {
  service: string;
  peerId: string;
  httpUrl: string;
  multiaddrs: string[];
}

export interface EdgeRegistrar {
  register(record: SidecarRecord, signal: AbortSignal): Promise<void>;
  heartbeat(record: SidecarRecord, signal: AbortSignal): Promise<void>;
  deregister?(record: SidecarRecord, signal: AbortSignal): Promise<void>;
}

const DEREGISTER_TIMEOUT_MS = 2_000;

/**
 * Keeps a record alive: registers, then heartbeats every interval until the signal aborts; then
 * deletes the record, so the edge stops redirecting clients to this sidecar at once.
 */
export async function keepRegistered(
  registrar: EdgeRegistrar,
  record: () => SidecarRecord,
  options: { intervalMs: number; signal: AbortSignal; log: (message: string) => void },
): Promise<void> {
  let registered = false;
  let mayExist = false;
  while (!options.signal.aborted) {
    try {
      if (registered) await registrar.heartbeat(record(), options.signal);
      else {
        mayExist = true;
        await registrar.register(record(), options.signal);
        registered = true;
      }
    } catch (err) {
      if (options.signal.aborted) break;
      options.log(`edge registration failed (will retry): ${(err as Error).message}`);
      registered = false;
    }
    await new Promise<void>((resolve) => {
      const onAbort = (): void => {
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        options.signal.removeEventListener('abort', onAbort);
        resolve();
      }, options.intervalMs);
      options.signal.addEventListener('abort', onAbort, { once: true });
    });
  }
  if (!mayExist || !registrar.deregister) return;
  try {
    await registrar.deregister(record(), AbortSignal.timeout(DEREGISTER_TIMEOUT_MS));
  } catch (err) {
    options.log(`edge deregistration failed (the record expires by its TTL): ${(err as Error).message}`);
  }
}
