import { randomBytes } from 'node:crypto';

interface Challenge { addr: string; holder: object | null; expires: number }

export interface ChallengeLimits {
  /** How long a test string may be answered. sysadm: 30 s. */
  ttlMs: number;
  /** Outstanding test strings per address; asking for more drops that address's oldest. */
  perAddress: number;
  /** Outstanding test strings in all; asking for more drops the oldest anywhere. */
  total: number;
}

export const CHALLENGE_LIMITS: ChallengeLimits = { ttlMs: 30_000, perAddress: 64, total: 10_000 };

/**
 * The test strings of key sign-in (rpc/auth_ssl stage 1), each bound to the address and the
 * connection (or, over REST, no connection) that asked, answerable once and for `ttlMs`.
 * Anyone may ask without signing in, so what is kept is bounded per address and in all.
 */
export class KeyChallenges {
  // Insertion order is expiry order: every entry lives the same time.
  private readonly live = new Map<string, Challenge>();
  private readonly byAddr = new Map<string, string[]>();

  constructor(
    private readonly limits: ChallengeLimits = CHALLENGE_LIMITS,
    private readonly now: () => number = Date.now,
  ) {}

  /** A new test string for the caller: 40 characters of [0-9a-f], as sysadm's are 40 ASCII characters. */
  issue(addr: string, holder: object | null): string {
    this.sweep();
    const mine = this.byAddr.get(addr);
    while (mine && mine.length >= this.limits.perAddress) this.drop(mine[0]);
    while (this.live.size >= this.limits.total) this.drop(this.live.keys().next().value!);
    const s = randomBytes(20).toString('hex');
    this.live.set(s, { addr, holder, expires: this.now() + this.limits.ttlMs });
    const list = this.byAddr.get(addr);
    if (list) list.push(s);
    else this.byAddr.set(addr, [s]);
    return s;
  }

  /** Whether `s` is a live test string issued to this caller. */
  answerable(s: string, addr: string, holder: object | null): boolean {
    this.sweep();
    const c = this.live.get(s);
    return c !== undefined && c.addr === addr && c.holder === holder;
  }

  /** Ends `s`: a test string signs in once. */
  spend(s: string): void {
    this.drop(s);
  }

  get size(): number {
    return this.live.size;
  }

  private sweep(): void {
    const t = this.now();
    for (const [s, c] of this.live) {
      if (c.expires > t) break;
      this.drop(s);
    }
  }

  private drop(s: string): void {
    const c = this.live.get(s);
    if (!c) return;
    this.live.delete(s);
    const list = this.byAddr.get(c.addr)!;
    list.splice(list.indexOf(s), 1);
    if (list.length === 0) this.byAddr.delete(c.addr);
  }
}
