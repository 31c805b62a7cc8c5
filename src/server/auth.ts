import type { SignIn } from '../classes/context.js';
import type { UserStore, UserRecord } from '../store/users.js';
import { Blacklist, type BlacklistPolicy } from './blacklist.js';
import { Sessions, sessionKey } from './sessions.js';
import { RpcError, forbidden, unauthorized } from '../core/errors.js';

export interface Login { user: UserRecord; token: string }

/** Passwords, tokens and the address blacklist in one place, so every transport checks them alike. */
export class Authenticator implements SignIn {
  readonly sessions: Sessions;
  private readonly blacklist: Blacklist;

  constructor(private readonly users: UserStore, tokenTimeoutS: number, policy: BlacklistPolicy) {
    this.sessions = new Sessions(tokenTimeoutS * 1000);
    this.blacklist = new Blacklist(policy);
  }

  get tokenSeconds(): number {
    return Math.round(this.sessions.timeoutMs / 1000);
  }

  /** Blocked addresses are refused before any password is looked at. */
  checkAddress(addr: string): void {
    if (this.blacklist.isBlocked(addr)) throw forbidden('address blocked after repeated authentication failures', 'blocked');
  }

  async password(username: string, password: string, addr: string): Promise<UserRecord> {
    this.checkAddress(addr);
    const user = await this.users.verify(username, password);
    if (!user) throw this.failure(addr, 'bad username or password');
    this.blacklist.succeed(addr);
    return user;
  }

  async login(username: string, password: string, addr: string): Promise<Login> {
    const user = await this.password(username, password, addr);
    return { user, token: this.sessions.create(user.username) };
  }

  endSession(key: string): void {
    this.sessions.end(key);
  }

  /** A live token's user (and its idle clock restarted); unknown tokens count as failures. */
  async token(token: string, addr: string): Promise<UserRecord> {
    this.checkAddress(addr);
    const user = await this.userOf(sessionKey(token));
    if (user) return user;
    throw this.failure(addr, 'token invalid or expired');
  }

  /** The session behind a connection, by its key; no blacklist count, as the token was valid once. */
  async session(key: string): Promise<UserRecord> {
    const user = await this.userOf(key);
    if (user) return user;
    throw unauthorized('session expired: authenticate again');
  }

  /** A deleted user's sessions end at their next use. */
  private async userOf(key: string): Promise<UserRecord | null> {
    const username = this.sessions.use(key);
    if (!username) return null;
    await this.users.refresh();
    const user = this.users.get(username);
    if (!user) this.sessions.end(key);
    return user ?? null;
  }

  private failure(addr: string, message: string): RpcError {
    return this.blacklist.fail(addr)
      ? forbidden('address blocked after repeated authentication failures', 'blocked')
      : unauthorized(message);
  }
}
