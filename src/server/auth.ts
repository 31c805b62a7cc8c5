import type { ConnectionHandle, SignIn } from '../classes/context.js';
import type { UserStore, UserRecord } from '../store/users.js';
import { openSigned } from '../store/keys.js';
import { Blacklist, type BlacklistPolicy } from './blacklist.js';
import { KeyChallenges } from './key-challenges.js';
import { Sessions, sessionKey } from './sessions.js';
import { RpcError, forbidden, unauthorized } from '../core/errors.js';

export interface Login { user: UserRecord; token: string }

/** Passwords, keys, tokens and the address blacklist in one place, so every transport checks them alike. */
export class Authenticator implements SignIn {
  readonly sessions: Sessions;
  private readonly blacklist: Blacklist;
  private readonly challenges = new KeyChallenges();

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

  /** Key sign-in, stage 1: a test string for this caller to encrypt with its private key. */
  keyChallenge(addr: string, holder: ConnectionHandle | null): string {
    this.checkAddress(addr);
    return this.challenges.issue(addr, holder);
  }

  /**
   * Key sign-in, stage 2: `signed` (base64) must open, with exactly one user's registered public
   * key, to a test string this caller was given and has not used. The key names the user. Any
   * other outcome is a failure and counts towards the blacklist, as a bad password does.
   */
  async keyLogin(signed: string, addr: string, holder: ConnectionHandle | null): Promise<Login> {
    this.checkAddress(addr);
    await this.users.refresh(true);
    const data = Buffer.from(signed, 'base64');
    let found: { user: UserRecord; challenge: string } | null = null;
    let ambiguous = false;
    for (const user of this.users.list()) {
      for (const key of user.keys ?? []) {
        const opened = openSigned(key, data);
        if (opened === null) continue;
        const challenge = opened.toString('latin1');
        if (!this.challenges.answerable(challenge, addr, holder)) continue;
        if (found && found.user !== user) ambiguous = true;
        found ??= { user, challenge };
      }
    }
    // A hand-edited users.json could give one key to two users: it then signs in neither.
    if (!found || ambiguous) throw this.failure(addr, 'key sign-in failed: not a live test string of this connection encrypted with a registered key');
    this.challenges.spend(found.challenge);
    this.blacklist.succeed(addr);
    return { user: found.user, token: this.sessions.create(found.user.username) };
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
