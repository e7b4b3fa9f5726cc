import type { LeaseEvent } from '../../durable-objects/blob-lease-client.js';
import { localMetrics } from './stats.js';

/** Counts lease outcomes on the caller's side, as deltas (no extra RPC to a global object). */
export function leaseObserver(kind: 'blob' | 'manifest'): (event: LeaseEvent) => void {
  return (event) => {
    if (event === 'settled') {
      localMetrics.add('fastreg_leases_active', {}, -1);
      return;
    }
    localMetrics.add('fastreg_leases_total', { outcome: event, kind });
    if (event === 'granted') localMetrics.add('fastreg_leases_active', {}, 1);
  };
}
