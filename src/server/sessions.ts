import { createHash, randomBytes } from 'node:crypto';

interface Session { username: string; lastUsed: number }

const digest = (token: string) => createHash('sha256').update(token).digest('base64');

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
    const token = randomBytes(32).toString('base64url');
    this.byHash.set(digest(token), { username, lastUsed: this.now() });
    return token;
  }

  /** The session's user if the token is live; each use restarts its idle clock. */
  use(token: string): string | null {
    const key = digest(token);
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

  end(token: string): void {
    this.byHash.delete(digest(token));
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
