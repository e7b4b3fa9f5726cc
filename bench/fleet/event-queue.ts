import { MinHeap } from './min-heap.js';

// Timed callbacks: the model's clock advances from one to the next. Ties run in the order they were
// scheduled, so a run is deterministic.

interface Entry {
  at: number;
  seq: number;
  run: () => void;
}

export class EventQueue {
  private readonly heap = new MinHeap<Entry>((a, b) => a.at < b.at || (a.at === b.at && a.seq < b.seq));
  private seq = 0;

  push(at: number, run: () => void): void {
    this.heap.push({ at, seq: this.seq++, run });
  }

  /** Time of the next entry, Infinity when empty. */
  peek(): number {
    return this.heap.peek()?.at ?? Infinity;
  }

  pop(): Entry | undefined {
    return this.heap.pop();
  }
}
