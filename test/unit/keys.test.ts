import { test } from 'node:test';
import assert from 'node:assert/strict';
import { constants, createHash, generateKeyPairSync, privateEncrypt } from 'node:crypto';
import { KeyError, canonicalKey, keyChecksum, openSigned, sysadmKeyId } from '../../src/store/keys.js';

const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const spki = publicKey.export({ type: 'spki', format: 'pem' }) as string;

test('a public key has one canonical form and checksum, however it is given', () => {
  const forms = [
    spki,
    publicKey.export({ type: 'pkcs1', format: 'pem' }) as string,
    Buffer.from(spki).toString('base64'), // sysadm-ui-qt's pub_key
    (publicKey.export({ type: 'spki', format: 'der' }) as Buffer).toString('base64'),
    `\n  ${spki}\n`,
  ];
  for (const f of forms) assert.equal(canonicalKey(f), spki);
  // The checksum sysadm-ui-qt computes for its own key: base64(md5(publicKey().toPem())).
  assert.equal(keyChecksum(spki), createHash('md5').update(spki).digest('base64'));
  assert.match(keyChecksum(spki), /^[A-Za-z0-9+/]{22}==$/);
  assert.equal(sysadmKeyId(spki), forms[2]);
});

test('private keys, other key types, weak keys and junk are refused', () => {
  const refused = (input: string, why: RegExp) => assert.throws(() => canonicalKey(input), (e: Error) => e instanceof KeyError && why.test(e.message));
  const pkcs8 = privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
  refused(pkcs8, /private key/);
  refused(privateKey.export({ type: 'pkcs1', format: 'pem' }) as string, /private key/);
  refused(Buffer.from(pkcs8).toString('base64'), /private key/);
  refused(generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }) as string, /RSA keys only/);
  refused(generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ type: 'spki', format: 'pem' }) as string, /1024 bits/);
  refused('-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n', /not a readable/);
  refused('hello world', /not a PEM public key/);
  refused('aGVsbG8=', /not a PEM public key/);
});

test('openSigned opens what the private key encrypted, and nothing else', () => {
  const record = { pem: spki };
  const signed = privateEncrypt({ key: privateKey, padding: constants.RSA_PKCS1_PADDING }, Buffer.from('0123456789abcdef'));
  assert.equal(openSigned(record, signed)?.toString(), '0123456789abcdef');
  const other = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
  assert.equal(openSigned(record, privateEncrypt({ key: other, padding: constants.RSA_PKCS1_PADDING }, Buffer.from('x'))), null);
  assert.equal(openSigned(record, Buffer.from('junk')), null);
});
