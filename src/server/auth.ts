import type { ConnectionHandle, SignIn } from '../classes/context.js';
import type { UserStore, UserRecord } from '../store/users.js';
import { openSigned } from '../store/keys.js';
import { Blacklist, type BlacklistPolicy } from './blacklist.js';
import { Counts } from './counts.js';
import { KeyChallenges } from './key-challenges.js';
import { Sessions, sessionKey } from './sessions.js';
import { RpcError, forbidden, unauthorized } from '../core/errors.js';
import { Locks } from '../core/locks.js';
import { NAME_PATTERN } from '../core/permissions.js';

export interface Login { user: UserRecord; token: string }

// scrypt runs on libuv's pool of four threads, which file system calls share: two checks at once
// leave them room, and a flood's cost grows its wait, not everyone's.
const CHECKS_AT_ONCE = 2;
// Per address (as the blacklist counts them), running or waiting: beyond it a check is refused at
// once (429), so one address can put at most this many checks ahead of anyone else's.
const CHECKS_PER_ADDRESS = 4;
const CHECKS_WAITING = 256;

/** Bounds the password checks (scrypt) in progress, overall and per address. */
class PasswordGate {
  private running = 0;
  private readonly queue: (() => void)[] = [];
  private readonly perAddress = new Counts();

  /** Runs `fn` as one of the checks of `network`, or refuses with 429 when it has its share already. */
  async admit<T>(network: string, fn: () => Promise<T>): Promise<T> {
    if (this.perAddress.get(network) >= CHECKS_PER_ADDRESS) throw new RpcError(429, `${CHECKS_PER_ADDRESS} password checks from this address are in progress: retry when one has answered`, [], 'busy');
    this.perAddress.add(network);
    try {
      return await fn();
    } finally {
      this.perAddress.remove(network);
    }
  }

  /** Runs `fn` once fewer than CHECKS_AT_ONCE run; 503 when too many wait already. */
  async slot<T>(fn: () => Promise<T>): Promise<T> {
    if (this.running < CHECKS_AT_ONCE) this.running++;
    else if (this.queue.length >= CHECKS_WAITING) throw new RpcError(503, 'too many password checks waiting: retry shortly', [], 'busy');
    else await new Promise<void>((resolve) => this.queue.push(resolve));
    try {
      return await fn();
    } finally {
      // The slot passes straight to the next in line.
      const next = this.queue.shift();
      if (next) next();
      else this.running--;
    }
  }
}

/**
 * Passwords, keys, tokens and the blacklist in one place, so every transport checks them alike.
 * A session is bound to its account's stamp (UserStore.stamp): a new password, changed rights or a
 * deleted account end it as soon as the daemon sees users.json change.
 */
export class Authenticator implements SignIn {
  readonly sessions: Sessions;
  private readonly blacklist: Blacklist;
  private readonly challenges = new KeyChallenges();
  private readonly gate = new PasswordGate();
  private readonly accounts = new Locks();

  constructor(private readonly users: UserStore, tokenTimeoutS: number, policy: BlacklistPolicy) {
    this.sessions = new Sessions(tokenTimeoutS * 1000);
    this.blacklist = new Blacklist(policy);
    users.onChange(() =>
      this.sessions.endWhere((s) => {
        const user = users.get(s.username);
        return !user || users.stamp(user) !== s.stamp;
      }, 'account changed'),
    );
  }

  get tokenSeconds(): number {
    return Math.round(this.sessions.timeoutMs / 1000);
  }

  /** Blocked addresses are refused before any password is looked at. */
  checkAddress(addr: string): void {
    if (this.blacklist.isBlocked(addr)) throw forbidden('address blocked after repeated authentication failures', 'blocked');
  }

  /**
   * One account's checks run one at a time, and the blacklist is looked at again when its turn
   * comes: a burst of parallel guesses gets no more checks than the limit allows.
   */
  async password(username: string, password: string, addr: string): Promise<UserRecord> {
    this.checkAddress(addr);
    // Only a possible user name is counted and queued on: any other string costs the address alone.
    const account = NAME_PATTERN.test(username) ? username : undefined;
    const check = async () => {
      this.checkAddress(addr);
      if (account !== undefined && this.blacklist.isAccountBlocked(account)) throw forbidden('sign-in for this user is blocked after repeated authentication failures', 'blocked');
      const user = await this.gate.slot(() => this.users.verify(username, password));
      if (!user) throw this.failure(addr, 'bad username or password', account);
      return user;
    };
    return this.gate.admit(this.blacklist.network(addr), () => (account === undefined ? check() : this.accounts.run(account, 'password check', check)));
  }

  async login(username: string, password: string, addr: string): Promise<Login> {
    const user = await this.password(username, password, addr);
    return { user, token: this.sessions.create(user.username, this.users.stamp(user)) };
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
    return { user: found.user, token: this.sessions.create(found.user.username, this.users.stamp(found.user)) };
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

  /** Checked on each use too, in case users.json changed since the daemon last read it. */
  private async userOf(key: string): Promise<UserRecord | null> {
    const session = this.sessions.use(key);
    if (!session) return null;
    await this.users.refresh();
    if (session.ended) return null;
    const user = this.users.get(session.username);
    if (user && this.users.stamp(user) === session.stamp) return user;
    this.sessions.end(key, 'account changed');
    return null;
  }

  private failure(addr: string, message: string, account?: string): RpcError {
    return this.blacklist.fail(addr, account)
      ? forbidden('blocked after repeated authentication failures', 'blocked')
      : unauthorized(message);
  }
}
