import { createHash, randomBytes } from 'node:crypto';

/** Why a session ended, as the connections holding it are told. */
export type EndReason = 'signed out' | 'idled out' | 'account changed';

export interface Session {
  readonly username: string;
  /** The account's stamp at sign-in (UserStore.stamp): a different one now means the session is void. */
  readonly stamp: string;
  lastUsed: number;
  ended: boolean;
  watchers: Set<(reason: EndReason) => void>;
}

/**
 * What a session is stored and looked up under: the token's SHA-256. A connection keeps this key
 * rather than the token, and hashes once at sign-in instead of once per request.
 */
export const sessionKey = (token: string) => createHash('sha256').update(token).digest('base64');

/**
 * Session tokens with an idle timeout reset by each use. Only a hash of each token is kept,
 * and lookups go by hash, so neither memory dumps nor lookup timing reveal a live token.
 * Connections watch the session they hold, so that its end reaches them without a request.
 */
export class Sessions {
  private readonly byHash = new Map<string, Session>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(readonly timeoutMs: number, private readonly now: () => number = Date.now) {
    this.sweeper = setInterval(() => this.sweep(), Math.min(60_000, timeoutMs)).unref();
  }

  create(username: string, stamp: string): string {
    // Hex, not base64url: one token in 64 began with '-', which command lines read as an option
    // (`hyvectl --token -Xy...` failed; so would most tools).
    const token = randomBytes(32).toString('hex');
    this.byHash.set(sessionKey(token), { username, stamp, lastUsed: this.now(), ended: false, watchers: new Set() });
    return token;
  }

  /** The session if it is live; each use restarts its idle clock. */
  use(key: string): Session | null {
    const s = this.byHash.get(key);
    if (!s) return null;
    const t = this.now();
    if (this.idle(s, t)) {
      this.end(key, 'idled out');
      return null;
    }
    s.lastUsed = t;
    return s;
  }

  /** Whether `s` may still act: checked on every event delivery, so only a flag and a clock compare. */
  isLive(s: Session): boolean {
    return !s.ended && !this.idle(s, this.now());
  }

  /** Whether the session under `key` is live; does not count as a use. */
  alive(key: string): boolean {
    const s = this.byHash.get(key);
    return s !== undefined && this.isLive(s);
  }

  /** The live session under `key` with `fn` told when it ends (once), or null; does not count as a use. */
  watch(key: string, fn: (reason: EndReason) => void): Session | null {
    const s = this.byHash.get(key);
    if (!s || !this.isLive(s)) return null;
    s.watchers.add(fn);
    return s;
  }

  unwatch(s: Session, fn: (reason: EndReason) => void): void {
    s.watchers.delete(fn);
  }

  end(key: string, reason: EndReason = 'signed out'): void {
    const s = this.byHash.get(key);
    if (!s) return;
    this.byHash.delete(key);
    s.ended = true;
    const watchers = [...s.watchers];
    s.watchers.clear();
    for (const fn of watchers) fn(reason);
  }

  /** Ends every session `void` picks (those of a changed or deleted account). */
  endWhere(isVoid: (s: Session) => boolean, reason: EndReason): void {
    for (const [k, s] of this.byHash) if (isVoid(s)) this.end(k, reason);
  }

  get size(): number {
    return this.byHash.size;
  }

  close(): void {
    clearInterval(this.sweeper);
  }

  private sweep(): void {
    const t = this.now();
    for (const [k, s] of this.byHash) if (this.idle(s, t)) this.end(k, 'idled out');
  }

  private idle(s: Session, t: number): boolean {
    return t - s.lastUsed > this.timeoutMs;
  }
}
