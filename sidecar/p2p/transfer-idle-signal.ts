import { PeerStalledError } from '../errors.js';

/**
 * Aborts its signal when `touch()` has not been called for `idleMs`. One timer per transfer,
 * refreshed per chunk, instead of a timeout signal per read.
 */
export class TransferIdleSignal {
  private readonly controller = new AbortController();
  private readonly timer: NodeJS.Timeout;

  constructor(idleMs: number, what: string) {
    this.timer = setTimeout(() => this.controller.abort(new PeerStalledError(`${what}: no bytes moved for ${idleMs} ms`)), idleMs);
    this.timer.unref();
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  touch(): void {
    this.timer.refresh();
  }

  dispose(): void {
    clearTimeout(this.timer);
  }
}
