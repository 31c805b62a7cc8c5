export interface BlacklistPolicy { auth_fail_limit: number; block_minutes: number; reset_minutes: number }

interface Entry { failures: number; lastFailure: number; blockedUntil: number }

const MAX_TRACKED = 100_000;

/**
 * sysadm.conf's brute-force rule: BLACKLIST_AUTH_FAIL_LIMIT failures from one address block it
 * for BLACKLIST_BLOCK_MINUTES; the count restarts after reset_minutes without failures, or on success.
 */
export class Blacklist {
  private readonly entries = new Map<string, Entry>();

  constructor(private readonly policy: BlacklistPolicy, private readonly now: () => number = Date.now) {}

  isBlocked(addr: string): boolean {
    const e = this.entries.get(addr);
    if (!e) return false;
    if (e.blockedUntil > this.now()) return true;
    if (e.blockedUntil) this.entries.delete(addr);
    return false;
  }

  /** Records a failure; true when this one put the address on the list. */
  fail(addr: string): boolean {
    const t = this.now();
    let e = this.entries.get(addr);
    if (!e || t - e.lastFailure > this.policy.reset_minutes * 60_000) {
      if (!e && this.entries.size >= MAX_TRACKED) this.prune(t);
      e = { failures: 0, lastFailure: t, blockedUntil: 0 };
      this.entries.set(addr, e);
    }
    e.failures += 1;
    e.lastFailure = t;
    if (e.failures >= this.policy.auth_fail_limit) {
      e.blockedUntil = t + this.policy.block_minutes * 60_000;
      return true;
    }
    return false;
  }

  succeed(addr: string): void {
    this.entries.delete(addr);
  }

  private prune(t: number): void {
    for (const [addr, e] of this.entries) {
      if (e.blockedUntil <= t && t - e.lastFailure > this.policy.reset_minutes * 60_000) this.entries.delete(addr);
    }
    // Still full: forget the oldest non-blocked entries rather than grow without bound.
    for (const [addr, e] of this.entries) {
      if (this.entries.size < MAX_TRACKED) break;
      if (e.blockedUntil <= t) this.entries.delete(addr);
    }
  }
}
