import { isIPv4, isIPv6 } from 'node:net';
import type { Config } from '../core/config.js';

export type BlacklistPolicy = Config['blacklist'];

interface Entry { failures: number; lastFailure: number; blockedUntil: number }

const MAX_TRACKED = 100_000;

/**
 * The address a failure is counted against: one host can hold many addresses, so IPv4 loopback
 * (127.0.0.0/8, every address of it reaches this host) is one, and an IPv6 address counts by its
 * network (`prefix` bits: a /64 is what one subscriber is typically given). IPv4 seen through a
 * dual-stack socket (::ffff:a.b.c.d) is that IPv4 address.
 */
export function networkOf(addr: string, prefix: number): string {
  const v4 = addr.startsWith('::ffff:') && isIPv4(addr.slice(7)) ? addr.slice(7) : addr;
  if (isIPv4(v4)) return v4.startsWith('127.') ? '127.0.0.0/8' : v4;
  const groups = isIPv6(addr) ? ipv6Groups(addr.split('%')[0]) : null;
  if (!groups) return addr;
  const out: string[] = [];
  for (let i = 0; i < 8; i++) {
    const keep = Math.max(0, Math.min(16, prefix - i * 16));
    out.push((keep === 0 ? 0 : groups[i] & (0xffff << (16 - keep)) & 0xffff).toString(16));
  }
  return `${out.join(':')}/${prefix}`;
}

function ipv6Groups(addr: string): number[] | null {
  const parse = (part: string): number[] => {
    if (part === '') return [];
    const out: number[] = [];
    for (const g of part.split(':')) {
      if (isIPv4(g)) {
        const [a, b, c, d] = g.split('.').map(Number);
        out.push((a << 8) | b, (c << 8) | d);
      } else out.push(parseInt(g, 16));
    }
    return out;
  };
  const [head, tail] = addr.split('::');
  const h = parse(head);
  const t = tail === undefined ? [] : parse(tail);
  const groups = [...h, ...new Array<number>(8 - h.length - t.length).fill(0), ...t];
  return groups.length === 8 && groups.every((g) => Number.isInteger(g)) ? groups : null;
}

/**
 * sysadm.conf's brute-force rule, counted both per address (see networkOf) and per account:
 * auth_fail_limit failures from one address, or account_fail_limit against one user name (whether
 * or not it exists, so a block says nothing about which names do), block it for block_minutes.
 * A count restarts after reset_minutes without failures or when its block ends, never on a
 * success: a signed-in user of the attacker's own must not wipe the record of its guesses.
 */
export class Blacklist {
  private readonly entries = new Map<string, Entry>();

  constructor(private readonly policy: BlacklistPolicy, private readonly now: () => number = Date.now) {}

  network(addr: string): string {
    return networkOf(addr, this.policy.ipv6_prefix);
  }

  isBlocked(addr: string): boolean {
    return this.blocked(`a:${this.network(addr)}`);
  }

  isAccountBlocked(username: string): boolean {
    return this.blocked(`u:${username}`);
  }

  /** Records a failure from `addr` (against `username` when one was named); true when the address or the account is blocked now. */
  fail(addr: string, username?: string): boolean {
    const byAddress = this.count(`a:${this.network(addr)}`, this.policy.auth_fail_limit);
    const byAccount = username !== undefined && this.count(`u:${username}`, this.policy.account_fail_limit);
    return byAddress || byAccount;
  }

  private blocked(key: string): boolean {
    const e = this.entries.get(key);
    if (!e) return false;
    if (e.blockedUntil > this.now()) return true;
    if (e.blockedUntil) this.entries.delete(key);
    return false;
  }

  private count(key: string, limit: number): boolean {
    const t = this.now();
    let e = this.entries.get(key);
    if (!e || t - e.lastFailure > this.policy.reset_minutes * 60_000) {
      if (!e && this.entries.size >= MAX_TRACKED) this.prune(t);
      e = { failures: 0, lastFailure: t, blockedUntil: 0 };
      this.entries.set(key, e);
    }
    e.failures += 1;
    e.lastFailure = t;
    if (e.failures >= limit) {
      e.blockedUntil = Math.max(e.blockedUntil, t + this.policy.block_minutes * 60_000);
      return true;
    }
    return false;
  }

  private prune(t: number): void {
    for (const [key, e] of this.entries) {
      if (e.blockedUntil <= t && t - e.lastFailure > this.policy.reset_minutes * 60_000) this.entries.delete(key);
    }
    // Still full: forget the oldest non-blocked entries rather than grow without bound.
    for (const [key, e] of this.entries) {
      if (this.entries.size < MAX_TRACKED) break;
      if (e.blockedUntil <= t) this.entries.delete(key);
    }
  }
}
