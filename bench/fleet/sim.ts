import { EventQueue } from './event-queue.js';
import { allocate, type Resource, type SharedFlow, type Use } from './sharing.js';

// The model's clock: timed events (latencies) and flows (bytes moving at their fair share). A flow
// moves towards a target; when it gets there its owner decides what next (a new target, a wait, the
// end). Rates are recomputed only when the set of moving flows changed, each flow's arrival is an
// event that is rescheduled only when its rate or target changes, and events closer together than
// `window` seconds are handled as one batch, so a 2,600-host pull stays seconds of CPU.

export class Flow implements SharedFlow {
  rate = 0;
  /** Bytes moved by `at`. */
  done = 0;
  at = 0;
  target = 0;
  moving = false;
  version = 0;
  frozenIn = -1;

  constructor(
    readonly uses: readonly Use[],
    readonly cap: number,
    /** Called when `done` reaches `target`. */
    readonly onTarget: () => void,
  ) {}
}

export class Sim {
  now = 0;
  private readonly queue = new EventQueue();
  private readonly moving = new Set<Flow>();
  private loaded: Resource[] = [];
  private dirty = false;
  readonly resources: Resource[] = [];

  constructor(private readonly window = 0.001) {}

  resource(r: Resource): Resource {
    this.resources.push(r);
    return r;
  }

  after(seconds: number, run: () => void): void {
    this.queue.push(this.now + Math.max(0, seconds), run);
  }

  /** Starts or continues `flow` towards `target` bytes. */
  move(flow: Flow, target: number): void {
    this.progress(flow);
    flow.target = target;
    if (flow.moving) this.schedule(flow);
    else {
      flow.moving = true;
      this.moving.add(flow);
      this.dirty = true;
    }
  }

  pause(flow: Flow): void {
    if (!flow.moving) return;
    this.progress(flow);
    flow.moving = false;
    flow.rate = 0;
    flow.version++;
    this.moving.delete(flow);
    this.dirty = true;
  }

  /** Runs until nothing is left to do; throws past `limit` seconds of model time. */
  run(limit: number): void {
    for (;;) {
      if (this.dirty) this.reallocate();
      const next = this.queue.peek();
      if (next === Infinity) return;
      if (next > limit) throw new Error(`fleet model: still running after ${limit} s of model time`);
      if (next > this.now) {
        for (const r of this.loaded) r.busySeconds += (r.load / r.capacity) * (next - this.now);
        this.now = next;
      }
      // Everything due within the window runs now (a flow arriving a little early); one reallocation after.
      const end = next + this.window;
      while (this.queue.peek() <= end) this.queue.pop()!.run();
    }
  }

  private reallocate(): void {
    const flows = [...this.moving];
    const before = flows.map((f) => f.rate);
    for (const flow of flows) this.progress(flow);
    for (const r of this.loaded) r.load = 0;
    allocate(flows);
    this.loaded = this.resources.filter((r) => r.load > 0);
    flows.forEach((flow, i) => {
      if (flow.rate !== before[i]) this.schedule(flow);
    });
    this.dirty = false;
  }

  private progress(flow: Flow): void {
    if (flow.moving && flow.rate > 0 && this.now > flow.at) flow.done = Math.min(flow.target, flow.done + flow.rate * (this.now - flow.at));
    flow.at = this.now;
  }

  /** (Re)schedules the flow's arrival at its target; earlier schedules are void. */
  private schedule(flow: Flow): void {
    const version = ++flow.version;
    if (flow.done < flow.target && !(flow.rate > 0)) return;
    const at = flow.done >= flow.target ? this.now : this.now + (flow.target - flow.done) / flow.rate;
    this.queue.push(at, () => {
      if (flow.version !== version || !flow.moving) return;
      this.progress(flow);
      flow.done = flow.target;
      flow.onTarget();
    });
  }
}
