import { createHash } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { badRequest, conflict, notAcceptable, notFound } from '../core/errors.js';
import { Locks } from '../core/locks.js';
import { NAME_PATTERN } from '../core/permissions.js';
import { writeFileAtomic } from './atomic.js';
import { RecordSchema, readRecord } from './json-records.js';

export interface SshKey { name: string; public_key: string; fingerprint: string; created: string }
interface KeyFile { keys: SshKey[] }

export const KEY_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const MAX_KEYS = 100;
const TYPES = ['ssh-rsa', 'ssh-ed25519', 'ssh-dss', 'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521', 'sk-ssh-ed25519@openssh.com', 'sk-ecdsa-sha2-nistp256@openssh.com'];

const schema = new RecordSchema<KeyFile>('ssh-keys');
// One change at a time per user's file: two creates must not both read the old list.
const locks = new Locks();

const field = (name: string, message: string) => badRequest(`${name}: ${message}`, [{ path: `/args/${name}`, message }]);

/**
 * An OpenSSH public key line (`TYPE BASE64 [comment]`), checked the way sshd reads it: the blob
 * must be base64 and name its own type first. Answers the line normalised and the key's MD5
 * fingerprint in colon hex, as Deltacloud (after EC2) shows it.
 */
export function parsePublicKey(text: string): { line: string; fingerprint: string } {
  const parts = text.trim().split(/\s+/);
  const [type, data] = parts;
  if (parts.length < 2 || !TYPES.includes(type)) throw field('public_key', `must be an OpenSSH public key line: one of ${TYPES.join(', ')}, then base64`);
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(data) || data.length % 4 !== 0) throw field('public_key', 'the key data is not base64');
  const blob = Buffer.from(data, 'base64');
  const len = blob.length >= 4 ? blob.readUInt32BE(0) : -1;
  if (len !== type.length || blob.subarray(4, 4 + len).toString('latin1') !== type) throw field('public_key', `the key data does not hold a ${type} key`);
  const comment = parts.slice(2).join(' ').replace(/[^\x20-\x7e]/g, '');
  const md5 = createHash('md5').update(blob).digest('hex');
  return { line: [type, data, ...(comment ? [comment] : [])].join(' '), fingerprint: md5.match(/../g)!.join(':') };
}

/** Each user's SSH public keys, one file per user under `<stateDir>/ssh-keys/`. */
export class SshKeyStore {
  private readonly dir: string;

  constructor(stateDir: string) {
    this.dir = path.join(stateDir, 'ssh-keys');
  }

  async list(user: string): Promise<SshKey[]> {
    return (await this.read(user)).keys;
  }

  async get(user: string, name: string): Promise<SshKey> {
    const key = (await this.list(user)).find((k) => k.name === name);
    if (!key) throw notFound(`no key '${name}'`);
    return key;
  }

  async create(user: string, name: string, publicKey: string): Promise<SshKey> {
    if (!KEY_NAME.test(name)) throw field('name', 'must be letters, digits, . _ - (at most 64, no leading punctuation)');
    const { line, fingerprint } = parsePublicKey(publicKey);
    return locks.run(user, 'adding a key', async () => {
      const file = await this.read(user);
      if (file.keys.some((k) => k.name === name)) throw conflict(`a key named '${name}' exists`, 'name_taken');
      if (file.keys.length >= MAX_KEYS) throw notAcceptable(`at most ${MAX_KEYS} keys per user`, 'quota_exceeded');
      const key = { name, public_key: line, fingerprint, created: new Date().toISOString() };
      await this.write(user, { keys: [...file.keys, key] });
      return key;
    });
  }

  async remove(user: string, name: string): Promise<void> {
    await locks.run(user, 'removing a key', async () => {
      const file = await this.read(user);
      if (!file.keys.some((k) => k.name === name)) throw notFound(`no key '${name}'`);
      await this.write(user, { keys: file.keys.filter((k) => k.name !== name) });
    });
  }

  private fileOf(user: string): string {
    // User names are NAME_PATTERN: a plain file name, never a path.
    if (!NAME_PATTERN.test(user)) throw badRequest('user name cannot hold keys');
    return path.join(this.dir, `${user}.json`);
  }

  private async read(user: string): Promise<KeyFile> {
    try {
      return await readRecord(this.fileOf(user), schema);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { keys: [] };
      throw err;
    }
  }

  private async write(user: string, file: KeyFile): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    await writeFileAtomic(this.fileOf(user), JSON.stringify(file, null, 2) + '\n', 0o600);
  }
}
