import { watch, type FSWatcher } from 'node:fs';
import { readFile, stat, mkdir } from 'node:fs/promises';
import { randomBytes, scrypt as scryptCb, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import path from 'node:path';
import { writeFileAtomic } from './atomic.js';
import { ALL_GROUPS, NAME_PATTERN, isPermission, type Grants } from '../core/permissions.js';

export interface UserRecord extends Grants {
  username: string;
  created: string;
  scrypt: { N: number; r: number; p: number; salt: string; hash: string };
}

interface UsersFile { version: 1; users: Record<string, UserRecord> }

const SCRYPT = { N: 16384, r: 8, p: 1 };
const KEYLEN = 64;

function scrypt(password: string, salt: Buffer, opts: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    scryptCb(password, salt, KEYLEN, { ...opts, maxmem: 64 * 1024 * 1024 }, (err, key) => (err ? reject(err) : resolve(key))),
  );
}

export class UserError extends Error {}

export function checkGrants(perms: Record<string, string[]>): void {
  for (const [gid, list] of Object.entries(perms)) {
    if (gid !== ALL_GROUPS && !NAME_PATTERN.test(gid)) throw new UserError(`bad group id '${gid}'`);
    for (const p of list) if (!isPermission(p)) throw new UserError(`unknown permission '${p}'`);
  }
}

/**
 * users.json in the state dir (mode 0600). The daemon re-reads it when its mtime changes,
 * so `hyved user add` takes effect without a restart.
 */
export class UserStore {
  readonly file: string;
  private data: UsersFile = { version: 1, users: {} };
  private mtimeMs = -1;
  // Verifying an unknown user costs the same scrypt as a known one: no user enumeration by timing.
  private readonly dummy: UserRecord['scrypt'] = { ...SCRYPT, salt: randomBytes(16).toString('base64'), hash: randomBytes(KEYLEN).toString('base64') };

  private dirty = true;
  private checkedAt = 0;
  private watcher: FSWatcher | null = null;

  constructor(stateDir: string) {
    this.file = path.join(stateDir, 'users.json');
  }

  /** The daemon watches for `hyved user ...` writing the file (an atomic rename in the state dir). */
  watch(): void {
    try {
      this.watcher = watch(path.dirname(this.file), { persistent: false }, (_event, name) => {
        if (name === null || name === path.basename(this.file)) this.dirty = true;
      });
      this.watcher.on('error', () => this.unwatch());
    } catch {
      // No watcher on this platform: the once-a-second check still applies.
    }
  }

  unwatch(): void {
    this.watcher?.close();
    this.watcher = null;
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
        this.data = { version: 1, users: {} };
        this.mtimeMs = -1;
        return;
      }
      throw err;
    }
    if (st.mtimeMs === this.mtimeMs) return;
    const parsed = JSON.parse(await readFile(this.file, 'utf8')) as UsersFile;
    this.data = { version: 1, users: parsed.users ?? {} };
    this.mtimeMs = st.mtimeMs;
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
    await this.refresh(true);
    if (this.get(username)) throw new UserError(`user '${username}' exists`);
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

  async remove(username: string): Promise<void> {
    await this.refresh(true);
    if (!this.get(username)) throw new UserError(`no user '${username}'`);
    delete this.data.users[username];
    await this.save();
  }

  async setPassword(username: string, password: string): Promise<void> {
    await this.refresh(true);
    const user = this.get(username);
    if (!user) throw new UserError(`no user '${username}'`);
    user.scrypt = await hashPassword(password);
    await this.save();
  }

  private async save(): Promise<void> {
    await mkdir(path.dirname(this.file), { recursive: true, mode: 0o700 });
    await writeFileAtomic(this.file, JSON.stringify(this.data, null, 2) + '\n', 0o600);
    this.mtimeMs = (await stat(this.file)).mtimeMs;
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
