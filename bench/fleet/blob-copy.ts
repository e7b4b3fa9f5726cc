import { Flow, type Sim } from './sim.js';
import type { Use } from './sharing.js';

// What one party (the edge's fill, a sidecar's fill, a client's download) holds of one blob, and
// the transfers between them. Readers follow a copy as it grows: they read what is released and
// wait for more. `step` is what a reader can take at once: the edge announces whole pieces (a reader
// of a filling blob runs one piece behind); a sidecar's followers read its `.part` file as it grows,
// which the model moves in chunks of `step` bytes. The last bytes are released only when the whole
// blob has arrived (the digest check).

export class BlobCopy {
  released = 0;
  private readonly waiters: Array<() => void> = [];

  constructor(
    readonly size: number,
    readonly step: number,
    /** Model time the copy was started. */
    readonly startedAt: number,
  ) {}

  get complete(): boolean {
    return this.released >= this.size;
  }

  /** Bytes that have arrived; releases whole steps (everything once complete) to the waiters. */
  arrived(bytes: number): void {
    const released = bytes >= this.size ? this.size : Math.floor(bytes / this.step) * this.step;
    if (released <= this.released) return;
    this.released = released;
    for (const wake of this.waiters.splice(0)) wake();
  }

  /** Calls `wake` once more bytes are released. */
  wait(wake: () => void): void {
    this.waiters.push(wake);
  }
}

export interface CopyOptions {
  uses: Use[];
  cap: number;
  /** Bytes already held by `to` (a resumed transfer). */
  from?: number;
  /** Bytes moved so far, after each step (the fan-out's "furthest along first"). */
  progress?: (bytes: number) => void;
  done: () => void;
}

/** Moves `source`'s bytes into `to` as they are released, step by step, at the flow's fair share. */
export function copy(sim: Sim, source: BlobCopy, to: BlobCopy, options: CopyOptions): Flow {
  const next = () => {
    const boundary = Math.min(to.size, (Math.floor(flow.done / to.step) + 1) * to.step);
    return Math.min(source.released, boundary);
  };
  const onTarget = () => {
    to.arrived(flow.done);
    options.progress?.(flow.done);
    if (flow.done >= to.size) {
      sim.pause(flow);
      options.done();
      return;
    }
    const target = next();
    if (target > flow.done) sim.move(flow, target);
    else {
      sim.pause(flow);
      source.wait(onTarget);
    }
  };
  const flow = new Flow(options.uses, options.cap, onTarget);
  flow.done = options.from ?? 0;
  onTarget();
  return flow;
}
