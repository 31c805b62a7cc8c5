import { createHash, randomBytes } from 'node:crypto';

interface Session { username: string; lastUsed: number }

/**
 * What a session is stored and looked up under: the token's SHA-256. A connection keeps this key
 * rather than the token, and hashes once at sign-in instead of once per request.
 */
export const sessionKey = (token: string) => createHash('sha256').update(token).digest('base64');

/**
 * Session tokens with an idle timeout reset by each use. Only a hash of each token is kept,
 * and lookups go by hash, so neither memory dumps nor lookup timing reveal a live token.
 */
export class Sessions {
  private readonly byHash = new Map<string, Session>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(readonly timeoutMs: number, private readonly now: () => number = Date.now) {
    this.sweeper = setInterval(() => this.sweep(), Math.min(60_000, timeoutMs)).unref();
  }

  create(username: string): string {
    // Hex, not base64url: one token in 64 began with '-', which command lines read as an option
    // (`hyvectl --token -Xy...` failed; so would most tools).
    const token = randomBytes(32).toString('hex');
    this.byHash.set(sessionKey(token), { username, lastUsed: this.now() });
    return token;
  }

  /** The session's user if it is live; each use restarts its idle clock. */
  use(key: string): string | null {
    const s = this.byHash.get(key);
    if (!s) return null;
    const t = this.now();
    if (t - s.lastUsed > this.timeoutMs) {
      this.byHash.delete(key);
      return null;
    }
    s.lastUsed = t;
    return s.username;
  }

  end(key: string): void {
    this.byHash.delete(key);
  }

  get size(): number {
    return this.byHash.size;
  }

  close(): void {
    clearInterval(this.sweeper);
  }

  private sweep(): void {
    const t = this.now();
    for (const [k, s] of this.byHash) if (t - s.lastUsed > this.timeoutMs) this.byHash.delete(k);
  }
}
