import { createHash, randomBytes } from 'node:crypto';

/**
 * SHA-512 crypt ("$6$"), as Ulrich Drepper's specification "Unix crypt using SHA-256 and SHA-512"
 * defines it: the hash cloud-init hands to chpasswd -e and glibc's crypt(3) checks at login. Node has
 * no crypt(3); this follows the specification's steps one by one (numbers in the comments).
 */

const ALPHABET = './0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const DEFAULT_ROUNDS = 5000;
const MIN_ROUNDS = 1000;
const MAX_ROUNDS = 999_999_999;
const SALT_MAX = 16;

/** The byte triples of the final digest in the specification's output order (step 22e). */
const ORDER: [number, number, number][] = [
  [0, 21, 42], [22, 43, 1], [44, 2, 23], [3, 24, 45], [25, 46, 4], [47, 5, 26], [6, 27, 48],
  [28, 49, 7], [50, 8, 29], [9, 30, 51], [31, 52, 10], [53, 11, 32], [12, 33, 54], [34, 55, 13],
  [56, 14, 35], [15, 36, 57], [37, 58, 16], [59, 17, 38], [18, 39, 60], [40, 61, 19], [62, 20, 41],
];

const sha512 = (...parts: Buffer[]) => {
  const h = createHash('sha512');
  for (const p of parts) h.update(p);
  return h.digest();
};

/** `length` bytes of `block` repeated (steps 16 and 20: P and S). */
function stretch(block: Buffer, length: number): Buffer {
  const out = Buffer.alloc(length);
  for (let i = 0; i < length; i += block.length) block.copy(out, i, 0, Math.min(block.length, length - i));
  return out;
}

function b64(w: number, n: number): string {
  let s = '';
  for (let i = 0; i < n; i++) {
    s += ALPHABET[w & 0x3f];
    w >>>= 6;
  }
  return s;
}

/**
 * Hashes `password` with `setting`: "$6$salt" or "$6$rounds=N$salt" (salt cut to 16 characters,
 * rounds clamped to 1000..999999999 as the specification says). Returns the whole crypt string.
 */
export function sha512Crypt(password: string, setting: string): string {
  const m = /^\$6\$(?:rounds=(\d+)\$)?([^$]*)/.exec(setting);
  if (!m) throw new Error('not a $6$ setting');
  const custom = m[1] !== undefined;
  const rounds = custom ? Math.min(MAX_ROUNDS, Math.max(MIN_ROUNDS, Number(m[1]))) : DEFAULT_ROUNDS;
  const saltText = m[2].slice(0, SALT_MAX);
  const pw = Buffer.from(password, 'utf8');
  const salt = Buffer.from(saltText, 'utf8');
  // 4-8: digest B of password, salt, password.
  const b = sha512(pw, salt, pw);
  // 1-3, 9-12: digest A.
  const a = createHash('sha512').update(pw).update(salt);
  let n = pw.length;
  for (; n > 64; n -= 64) a.update(b);
  a.update(b.subarray(0, n));
  for (let bits = pw.length; bits > 0; bits >>= 1) a.update(bits & 1 ? b : pw);
  const digestA = a.digest();
  // 13-16: P from the password repeated as many times as it is long.
  const p = stretch(sha512(...Array<Buffer>(pw.length).fill(pw)), pw.length);
  // 17-20: S from the salt repeated 16 + A[0] times.
  const s = stretch(sha512(...Array<Buffer>(16 + digestA[0]).fill(salt)), salt.length);
  // 21: the rounds.
  let c = digestA;
  for (let i = 0; i < rounds; i++) {
    const h = createHash('sha512');
    h.update(i & 1 ? p : c);
    if (i % 3) h.update(s);
    if (i % 7) h.update(p);
    h.update(i & 1 ? c : p);
    c = h.digest();
  }
  // 22: the output string.
  let out = ORDER.map(([x, y, z]) => b64((c[x] << 16) | (c[y] << 8) | c[z], 4)).join('') + b64(c[63], 2);
  out = `$6$${custom ? `rounds=${rounds}$` : ''}${saltText}$${out}`;
  return out;
}

/** A fresh hash of `password` with a random 16-character salt and the default rounds. */
export function hashPassword(password: string): string {
  const salt = [...randomBytes(SALT_MAX)].map((x) => ALPHABET[x & 0x3f]).join('');
  return sha512Crypt(password, `$6$${salt}`);
}
