export const DEFAULT_PENALTY_MS = 10 * 60_000;

/** Peers that sent bad bytes are skipped until their penalty expires. */
export class PenaltyBox {
  private readonly until = new Map<string, number>();

  constructor(private readonly durationMs = DEFAULT_PENALTY_MS, private readonly now: () => number = Date.now) {}

  penalize(peerId: string): void {
    this.until.set(peerId, this.now() + this.durationMs);
  }

  isPenalized(peerId: string): boolean {
    const expiry = this.until.get(peerId);
    if (expiry === undefined) return false;
    if (expiry <= this.now()) {
      this.until.delete(peerId);
      return false;
    }
    return true;
  }
}
