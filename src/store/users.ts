import { watch, type FSWatcher } from 'node:fs';
import { readFile, stat, mkdir } from 'node:fs/promises';
import { createHash, randomBytes, scrypt as scryptCb, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import path from 'node:path';
import { writeFileAtomic } from './atomic.js';
import { FileLockTimeout, withFileLock } from './file-lock.js';
import { RecordSchema, describeProblems, detail, parseRecord, pointerKey, preserveCopy } from './json-records.js';
import { Locks } from '../core/locks.js';
import { ALL_GROUPS, NAME_PATTERN, isPermission, type Grants } from '../core/permissions.js';
import type { ErrorDetail } from '../core/schemas.js';
import { KeyError, canonicalKey, keyChecksum } from './keys.js';
import { fileStampOf } from './file-stamp.js';

/** A public key its user signs in with (rpc/auth_ssl): canonical SPKI PEM (see keys.ts). */
export interface KeyRecord {
  pem: string;
  nickname?: string;
  email?: string;
  added: string;
}

export interface UserRecord extends Grants {
  username: string;
  created: string;
  scrypt: { N: number; r: number; p: number; salt: string; hash: string };
  keys?: KeyRecord[];
}

/** At most this many keys per user (also the schema's maxItems). */
export const MAX_KEYS = 32;

interface UsersFile { version: 1; users: Record<string, UserRecord> }

const FILE_SCHEMA = new RecordSchema<{ version: 1; users: Record<string, unknown> }>('users');
const USER_SCHEMA = new RecordSchema<UserRecord>('user');

const SCRYPT = { N: 16384, r: 8, p: 1 };
const KEYLEN = 64;

function scrypt(password: string, salt: Buffer, opts: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    scryptCb(password, salt, KEYLEN, { ...opts, maxmem: 64 * 1024 * 1024 }, (err, key) => (err ? reject(err) : resolve(key))),
  );
}

/** A refused user change; `kind` tells the RPC layer which code it is (the command line exits 2 on any). */
export class UserError extends Error {
  constructor(
    message: string,
    readonly kind: 'invalid' | 'not_found' | 'conflict' = 'invalid',
  ) {
    super(message);
  }
}

export function checkGrants(perms: Record<string, string[]>): void {
  for (const [gid, list] of Object.entries(perms)) {
    if (gid !== ALL_GROUPS && !NAME_PATTERN.test(gid)) throw new UserError(`bad group id '${gid}'`);
    for (const p of list) if (!isPermission(p)) throw new UserError(`unknown permission '${p}'`);
  }
}

/** What the schema cannot say about a user: its key, its group ids and permissions, scrypt's N. */
function userProblems(key: string, user: UserRecord, at: string): ErrorDetail[] {
  const out: ErrorDetail[] = [];
  if (user.username !== key) out.push(detail(`${at}/username`, `is '${user.username}', not the name it is filed under`));
  for (const [gid, list] of Object.entries(user.perms)) {
    if (gid !== ALL_GROUPS && !NAME_PATTERN.test(gid)) out.push(detail(`${at}/perms${pointerKey(gid)}`, 'is not a group id'));
    list.forEach((p, i) => isPermission(p) || out.push(detail(`${at}/perms${pointerKey(gid)}/${i}`, `'${p}' is not a permission`)));
  }
  if (!Number.isInteger(Math.log2(user.scrypt.N))) out.push(detail(`${at}/scrypt/N`, 'must be a power of two'));
  const seen = new Set<string>();
  user.keys?.forEach((k, i) => {
    let canonical: string;
    try {
      canonical = canonicalKey(k.pem);
    } catch (err) {
      if (!(err instanceof KeyError)) throw err;
      out.push(detail(`${at}/keys/${i}/pem`, err.message));
      return;
    }
    if (canonical !== k.pem) out.push(detail(`${at}/keys/${i}/pem`, 'is not in canonical form (SPKI PEM as written by hyved)'));
    if (seen.has(canonical)) out.push(detail(`${at}/keys/${i}/pem`, 'is listed twice'));
    seen.add(canonical);
  });
  return out;
}

/** The sound users in `bytes`, and a line for each problem: a damaged entry costs that user only. */
function readUsers(bytes: Buffer): { users: Record<string, UserRecord>; problems: string[] } {
  const parsed = parseRecord(bytes, FILE_SCHEMA);
  if (!('value' in parsed)) return { users: {}, problems: [`unusable, no user in it can sign in: ${describeProblems(parsed.problems)}`] };
  // Kept as parsed and pruned, never copied key by key: a damaged key may be "__proto__".
  const users = parsed.value.users;
  const problems: string[] = [];
  for (const [key, entry] of Object.entries(users)) {
    const details = USER_SCHEMA.problems(entry, `/users${pointerKey(key)}`, (user, at) => userProblems(key, user, at));
    if (details.length === 0) continue;
    delete users[key];
    problems.push(`skipping user '${key}': ${describeProblems(details)}`);
  }
  return { users: users as Record<string, UserRecord>, problems };
}

/**
 * users.json in the state dir (mode 0600). The daemon re-reads it when its mtime changes,
 * so `hyved user add` takes effect without a restart.
 *
 * A damaged entry is skipped, and a damaged file (not JSON, or not a users file) reads as having
 * no users; `exists` still tells the daemon it is not a first start. Either way the original bytes
 * are first copied to users.json.corrupt-<time>, and users.json is never rewritten (dropping what
 * was skipped) before that copy is on disk.
 *
 * Every change re-reads, edits and writes the file holding users.json.lock, shared with every other
 * process that changes it (the daemon registering a key, `hyved user ...`): none loses another's change.
 */
export class UserStore {
  readonly file: string;
  private data: UsersFile = { version: 1, users: {} };
  private fileStamp = '';
  /** Whether users.json was there at the last read, readable or not. */
  exists = false;
  /** Damaged content read from the file that could not be copied aside yet. */
  private unkept: Buffer | null = null;
  // Verifying an unknown user costs the same scrypt as a known one: no user enumeration by timing.
  private readonly dummy: UserRecord['scrypt'] = { ...SCRYPT, salt: randomBytes(16).toString('base64'), hash: randomBytes(KEYLEN).toString('base64') };

  private dirty = true;
  private checkedAt = 0;
  private watcher: FSWatcher | null = null;
  private reloadTimer: NodeJS.Timeout | null = null;
  private poller: NodeJS.Timeout | null = null;
  private readonly listeners: (() => void)[] = [];
  private readonly stamps = new WeakMap<UserRecord, string>();
  // Changes run one at a time: each re-reads the file, edits, and writes it whole.
  private readonly locks = new Locks();

  constructor(stateDir: string) {
    this.file = path.join(stateDir, 'users.json');
  }

  /**
   * The daemon watches for `hyved user ...` writing the file (an atomic rename in the state dir) and
   * re-reads it at once, not at the next request: sessions of a changed account must end, and event
   * streams stop, also on connections that send nothing.
   */
  watch(): void {
    try {
      this.watcher = watch(path.dirname(this.file), { persistent: false }, (_event, name) => {
        if (name !== null && name !== path.basename(this.file)) return;
        this.dirty = true;
        // One rename fires several events: read once they settle.
        this.reloadTimer ??= setTimeout(() => {
          this.reloadTimer = null;
          this.refresh().catch(() => {});
        }, 20).unref();
      });
      this.watcher.on('error', () => this.poll());
    } catch {
      this.poll();
    }
  }

  unwatch(): void {
    this.watcher?.close();
    this.watcher = null;
    if (this.reloadTimer) clearTimeout(this.reloadTimer);
    if (this.poller) clearInterval(this.poller);
    this.reloadTimer = this.poller = null;
  }

  /** Without a watcher, changes are looked for once a second. */
  private poll(): void {
    this.watcher?.close();
    this.watcher = null;
    this.poller ??= setInterval(() => this.refresh().catch(() => {}), 1000).unref();
  }

  /** `fn` runs whenever the users change, whoever changed them (this process or `hyved user ...`). */
  onChange(fn: () => void): void {
    this.listeners.push(fn);
  }

  private changed(): void {
    for (const fn of this.listeners) fn();
  }

  /**
   * What a session is bound to: a digest of the account's identity, password hash and rights. A
   * new password, any change of rights, or deleting and re-creating the name (new `created`, new
   * salt) changes it and so ends the sessions opened before; a key added or removed does not.
   * Computed from the record rather than stored in it, so hand edits of users.json count too.
   */
  stamp(user: UserRecord): string {
    let s = this.stamps.get(user);
    if (s === undefined) {
      s = createHash('sha256').update(JSON.stringify([user.username, user.created, user.admin, user.perms, user.scrypt])).digest('base64');
      this.stamps.set(user, s);
    }
    return s;
  }

  /**
   * Re-reads users.json if it changed. Session lookups call this on every request, so the file
   * is stat'ed only when a watcher saw the state dir change, or once a second as a fallback.
   */
  async refresh(force = false): Promise<void> {
    const now = Date.now();
    if (!force && !this.dirty && now - this.checkedAt < 1000) return;
    this.dirty = false;
    this.checkedAt = now;
    let st;
    try {
      st = await stat(this.file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        const had = this.exists;
        this.data = { version: 1, users: {} };
        this.fileStamp = '';
        this.exists = false;
        if (had) this.changed();
        return;
      }
      throw err;
    }
    const stamp = fileStampOf(st);
    if (stamp === this.fileStamp) return;
    const bytes = await readFile(this.file);
    const { users, problems } = readUsers(bytes);
    this.data = { version: 1, users };
    this.fileStamp = stamp;
    this.exists = true;
    this.unkept = problems.length ? bytes : null;
    this.changed();
    if (!this.unkept) return;
    let kept: string;
    try {
      kept = `the original is kept as ${await this.keepDamaged(bytes)}`;
    } catch (err) {
      kept = `the original cannot be copied aside (${(err as Error).message}), so no change to users will be saved until it can`;
    }
    // No logger reaches the store; stderr is where both the daemon's and `hyved user`'s operator look.
    process.stderr.write(`hyved: ${this.file}: ${problems.join('; ')}; ${kept}\n`);
  }

  private async keepDamaged(bytes: Buffer): Promise<string> {
    const copy = await preserveCopy(this.file, bytes, 0o600);
    // A concurrent refresh may have read newer content meanwhile.
    if (this.unkept === bytes) this.unkept = null;
    return copy;
  }

  list(): UserRecord[] {
    return Object.values(this.data.users);
  }

  get(username: string): UserRecord | undefined {
    return Object.hasOwn(this.data.users, username) ? this.data.users[username] : undefined;
  }

  async verify(username: string, password: string): Promise<UserRecord | null> {
    await this.refresh(true);
    const user = this.get(username);
    const params = user?.scrypt ?? this.dummy;
    const expected = Buffer.from(params.hash, 'base64');
    const actual = await scrypt(password, Buffer.from(params.salt, 'base64'), { N: params.N, r: params.r, p: params.p });
    const ok = actual.length === expected.length && timingSafeEqual(actual, expected);
    return ok && user ? user : null;
  }

  async add(username: string, password: string, grants: Grants): Promise<UserRecord> {
    if (!NAME_PATTERN.test(username)) throw new UserError(`bad user name '${username}' (letters, digits, _ . -; at most 32)`);
    checkGrants(grants.perms);
    return this.change(() => this.addNow(username, password, grants));
  }

  private async addNow(username: string, password: string, grants: Grants): Promise<UserRecord> {
    await this.refresh(true);
    if (this.get(username)) throw new UserError(`user '${username}' exists`, 'conflict');
    const record: UserRecord = {
      username,
      admin: grants.admin,
      perms: grants.perms,
      created: new Date().toISOString(),
      scrypt: await hashPassword(password),
    };
    this.data.users[username] = record;
    await this.save();
    return record;
  }

  remove(username: string): Promise<void> {
    return this.change(() => this.removeNow(username));
  }

  private async removeNow(username: string): Promise<void> {
    await this.refresh(true);
    this.existing(username);
    delete this.data.users[username];
    await this.save();
  }

  setPassword(username: string, password: string): Promise<void> {
    return this.change(async () => {
      await this.refresh(true);
      const user = this.existing(username);
      // A new record, not an edit in place: its stamp is cached by record.
      this.data.users[username] = { ...user, scrypt: await hashPassword(password) };
      await this.save();
    });
  }

  /** The keys `username` signs in with, by checksum; empty for an unknown user. */
  keysOf(username: string): { checksum: string; key: KeyRecord }[] {
    return (this.get(username)?.keys ?? []).map((key) => ({ checksum: keyChecksum(key.pem), key }));
  }

  /**
   * Registers a public key (any form canonicalKey reads) for `username`. The same key again
   * updates the nickname and email given; a key another user holds is refused, as a key names its user
   * at sign-in. Resolves with its checksum and whether it was new.
   */
  addKey(username: string, key: string, about: { nickname?: string; email?: string } = {}): Promise<{ checksum: string; added: boolean }> {
    let pem: string;
    try {
      pem = canonicalKey(key);
    } catch (err) {
      throw err instanceof KeyError ? new UserError(err.message) : err;
    }
    const checksum = keyChecksum(pem);
    return this.change(async () => {
      await this.refresh(true);
      const user = this.existing(username);
      if (this.list().some((u) => u !== user && u.keys?.some((k) => k.pem === pem))) {
        throw new UserError('this key is registered to another user; a key may sign in one user only', 'conflict');
      }
      const keys = user.keys ?? [];
      const old = keys.find((k) => k.pem === pem);
      if (!old && keys.length >= MAX_KEYS) throw new UserError(`'${username}' has ${MAX_KEYS} keys, the most allowed: remove one first`, 'conflict');
      // A field left out keeps its value; an empty one clears it.
      const nickname = about.nickname ?? old?.nickname;
      const email = about.email ?? old?.email;
      const record: KeyRecord = { pem, ...(nickname ? { nickname } : {}), ...(email ? { email } : {}), added: old?.added ?? new Date().toISOString() };
      user.keys = old ? keys.map((k) => (k === old ? record : k)) : [...keys, record];
      await this.save();
      return { checksum, added: !old };
    });
  }

  /** Removes the key with this checksum from `username`'s keys. */
  removeKey(username: string, checksum: string): Promise<void> {
    return this.change(async () => {
      await this.refresh(true);
      const user = this.existing(username);
      const keys = user.keys ?? [];
      const left = keys.filter((k) => keyChecksum(k.pem) !== checksum);
      if (left.length === keys.length) throw new UserError(`'${username}' has no key with checksum ${checksum}`, 'not_found');
      if (left.length) user.keys = left;
      else delete user.keys;
      await this.save();
    });
  }

  private existing(username: string): UserRecord {
    const user = this.get(username);
    if (!user) throw new UserError(`no user '${username}'`, 'not_found');
    return user;
  }

  private change<T>(fn: () => Promise<T>): Promise<T> {
    const locked = async () => {
      // The lock lives beside users.json: `hyved user add` may be the first to use the state dir.
      await mkdir(path.dirname(this.file), { recursive: true, mode: 0o700 });
      return withFileLock(this.file, fn).catch((err: unknown) => {
        throw err instanceof FileLockTimeout ? new UserError(err.message) : err;
      });
    };
    return this.locks.run(this.file, 'a change of users', locked);
  }

  private async save(): Promise<void> {
    // Serialized before any wait: what is written is what the change left, whatever happens meanwhile.
    const text = JSON.stringify(this.data, null, 2) + '\n';
    if (this.unkept) {
      await this.keepDamaged(this.unkept).catch((err: Error) => {
        throw new UserError(`not rewriting ${this.file}: its damaged entries cannot be copied aside first (${err.message})`);
      });
    }
    await writeFileAtomic(this.file, text, 0o600);
    this.fileStamp = fileStampOf(await stat(this.file));
    this.exists = true;
    this.changed();
  }
}

async function hashPassword(password: string): Promise<UserRecord['scrypt']> {
  if (password.length < 8) throw new UserError('password must have at least 8 characters');
  const salt = randomBytes(16);
  const hash = await scrypt(password, salt, SCRYPT);
  return { ...SCRYPT, salt: salt.toString('base64'), hash: hash.toString('base64') };
}

export function randomPassword(): string {
  return randomBytes(15).toString('base64url');
}
