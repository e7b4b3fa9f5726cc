/**
 * Fires `onIdle` once when `touch()` has not been called for `timeoutMs`. Used to turn a stalled
 * upstream body into an error instead of a hang (the header timeout no longer applies then).
 */
export class BodyStallWatchdog {
  private last = Date.now();
  private readonly timer: ReturnType<typeof setInterval>;
  private stopped = false;

  constructor(private readonly timeoutMs: number, private readonly onIdle: () => void) {
    this.timer = setInterval(() => this.check(), Math.max(25, Math.floor(timeoutMs / 4)));
  }

  touch(): void {
    this.last = Date.now();
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.timer);
  }

  private check(): void {
    if (this.stopped || Date.now() - this.last < this.timeoutMs) return;
    this.stop();
    this.onIdle();
  }
}
