import { constants, createHash, createPublicKey, publicDecrypt, type KeyObject } from 'node:crypto';

/**
 * The public keys users sign in with (sysadm's "SSL certificates"): RSA only, as the sign-in is
 * PKCS#1 v1.5 private-encrypt of a test string, which only RSA has.
 */

/** The shortest and longest RSA moduli accepted, in bits. */
export const KEY_BITS = { min: 2048, max: 8192 } as const;

/** What a key is known by: the base64 MD5 of its SPKI PEM, as sysadm-ui-qt's pubkeyMD5 computes it for its own key. */
export const CHECKSUM_PATTERN = /^[A-Za-z0-9+/]{22}==$/;

/** A public key as given was refused; the message says why and never holds the key. */
export class KeyError extends Error {}

/**
 * The canonical form of a public key given as PEM (SPKI "PUBLIC KEY", PKCS#1 "RSA PUBLIC KEY" or
 * an X.509 certificate), as base64 of such PEM (what sysadm clients send: `pubkey.toPem().toBase64()`),
 * or as base64 DER SPKI. The result is SPKI PEM as OpenSSL writes it, so a key has one form and
 * one checksum however it arrived. Private keys are refused, not reduced to their public half.
 */
export function canonicalKey(input: string): string {
  const text = input.trim();
  let key: KeyObject;
  if (text.includes('-----BEGIN')) key = fromPem(text);
  else {
    const compact = text.replace(/\s+/g, '');
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(compact)) throw new KeyError('not a PEM public key, nor base64 of one');
    const bytes = Buffer.from(compact, 'base64');
    const decoded = bytes.toString('latin1');
    if (decoded.includes('-----BEGIN')) key = fromPem(decoded);
    else {
      try {
        key = createPublicKey({ key: bytes, format: 'der', type: 'spki' });
      } catch {
        throw new KeyError('not a PEM public key, nor base64 of one');
      }
    }
  }
  if (key.asymmetricKeyType !== 'rsa') throw new KeyError(`an ${key.asymmetricKeyType ?? 'unknown'} key: key sign-in takes RSA keys only`);
  const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
  if (bits < KEY_BITS.min || bits > KEY_BITS.max) throw new KeyError(`an RSA key of ${bits} bits: ${KEY_BITS.min} to ${KEY_BITS.max} are accepted`);
  return key.export({ type: 'spki', format: 'pem' }) as string;
}

function fromPem(pem: string): KeyObject {
  // createPublicKey derives the public half of a private key; a private key has no business here.
  if (/-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/.test(pem)) throw new KeyError('this is a private key: register the public key only');
  try {
    return createPublicKey(pem);
  } catch {
    throw new KeyError('not a readable PEM public key or certificate');
  }
}

/** The checksum of a canonical key: base64 of the MD5 of its PEM text. */
export function keyChecksum(pem: string): string {
  return createHash('md5').update(pem).digest('base64');
}

/** A canonical key as sysadm lists and revokes it: base64 of its PEM text. */
export function sysadmKeyId(pem: string): string {
  return Buffer.from(pem).toString('base64');
}

// Parsed once per stored key record; records are replaced, never edited, when users.json changes.
const parsed = new WeakMap<object, KeyObject>();

/**
 * What `signed` holds once opened with the public key of `record` (RSA PKCS#1 v1.5, type 1
 * padding: the key holder's RSA_private_encrypt), or null when that key did not make it.
 */
export function openSigned(record: { pem: string }, signed: Buffer): Buffer | null {
  let key = parsed.get(record);
  if (!key) parsed.set(record, (key = createPublicKey(record.pem)));
  try {
    return publicDecrypt({ key, padding: constants.RSA_PKCS1_PADDING }, signed);
  } catch {
    return null;
  }
}
