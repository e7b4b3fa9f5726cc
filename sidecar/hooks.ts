/**
 * Fault-injection points for tests. The production CLI never sets them; only the test entry
 * (test/helpers/sidecar-entry.ts) does, from its own environment variables.
 */
export interface SidecarHooks {
  /** Rewrites bytes this node serves over P2P (a corrupt sender). */
  mutateServed?(chunk: Uint8Array, offset: number): Uint8Array;
  /** Awaited before each chunk is sent over P2P (a slow sender). */
  beforeServeChunk?(bytes: number): Promise<void>;
  /** Awaited before each received P2P chunk is written (a slow receiver). */
  beforeReceiveChunk?(bytes: number): Promise<void>;
}
