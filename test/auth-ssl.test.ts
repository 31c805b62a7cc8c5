import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { constants, createHash, createPublicKey, generateKeyPairSync, privateEncrypt, type KeyObject } from 'node:crypto';
import { readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { HyvedClient, type CallError } from '../src/client/client.js';
import { runHyved, startDaemon, tempDir, type TestDaemon } from './helpers/daemon.js';

// sysadm's key sign-in as its Qt client does it: register the public key (base64 of its PEM) with
// rpc/settings over a password session; later, on a new connection, rpc/auth_ssl "" gives a test
// string, which goes back RSA-private-encrypted (PKCS#1 v1.5) and base64'd as encrypted_string.

const daemons: TestDaemon[] = [];
const clients: HyvedClient[] = [];
after(async () => {
  for (const c of clients) c.close();
  await Promise.all(daemons.map((d) => d.stop()));
});

/** Everything secret the tests handle: none of it may reach the daemon's log or output. */
const secrets = new Set<string>();

interface Key { privateKey: KeyObject; pem: string; pubKey: string; checksum: string }

function newKey(bits = 2048): Key {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: bits });
  const pem = publicKey.export({ type: 'spki', format: 'pem' }) as string;
  // sysadm-ui-qt: pub_key = publicKey().toPem().toBase64(); its checksum: base64(md5(toPem())).
  const pubKey = Buffer.from(pem).toString('base64');
  return { privateKey, pem, pubKey, checksum: createHash('md5').update(pem).digest('base64') };
}

function encrypt(key: Key, testString: string): string {
  const out = privateEncrypt({ key: key.privateKey, padding: constants.RSA_PKCS1_PADDING }, Buffer.from(testString)).toString('base64');
  secrets.add(out);
  return out;
}

async function code(p: Promise<unknown>): Promise<number> {
  return p.then(
    () => 200,
    (e: CallError) => e.code,
  );
}

async function connect(d: TestDaemon): Promise<HyvedClient> {
  const c = await HyvedClient.connect(d.url);
  clients.push(c);
  return c;
}

async function passwordClient(d: TestDaemon, user: string, password: string): Promise<HyvedClient> {
  const c = await connect(d);
  secrets.add(await c.login(user, password));
  return c;
}

/** Stage 1 as the Qt client sends it (args ""). */
async function testString(c: HyvedClient): Promise<string> {
  const { test_string } = await c.call<{ test_string: string }>('rpc', 'auth_ssl', '');
  assert.match(test_string, /^[0-9a-f]{40}$/);
  secrets.add(test_string);
  return test_string;
}

/** Both stages on `c`; resolves with [token, seconds] or rejects with the CallError. */
async function keySignIn(c: HyvedClient, key: Key): Promise<[string, number]> {
  const s = await testString(c);
  const reply = await c.call<[string, number]>('rpc', 'auth_ssl', { encrypted_string: encrypt(key, s) });
  secrets.add(reply[0]);
  return reply;
}

async function addUser(d: TestDaemon, name: string, password: string, ...perms: string[]): Promise<void> {
  const r = await runHyved(['user', 'add', name, '--password-stdin', ...perms.flatMap((p) => ['--perm', p]), '--config', d.configFile], password + '\n');
  assert.equal(r.code, 0, r.stderr);
}

const settings = (c: HyvedClient, args: Record<string, unknown>) => c.call<any>('rpc', 'settings', args);

test('a key registered over a password session signs its user in on a new connection', async () => {
  const d = await startDaemon();
  daemons.push(d);
  await addUser(d, 'alice', 'alice-pass-1');
  const key = newKey();
  secrets.add(key.pubKey);

  const alice = await passwordClient(d, 'alice', 'alice-pass-1');
  assert.deepEqual(await settings(alice, { action: 'register_ssl_cert', pub_key: key.pubKey, nickname: 'laptop', email: '' }), {
    user: 'alice',
    md5_key: key.checksum,
    added: true,
  });
  assert.deepEqual(await settings(alice, { action: 'list_ssl_checksums' }), { md5_keys: [key.checksum] });
  const certs = await settings(alice, { action: 'list_ssl_certs' });
  assert.deepEqual(Object.keys(certs), ['alice']);
  assert.deepEqual(Object.keys(certs.alice), [key.pubKey], 'listed under the pub_key the client sent');
  assert.match(certs.alice[key.pubKey], /^Nickname: laptop\nEmail: \nDate Registered: \S+\nMD5: /);

  const c = await connect(d);
  assert.equal(await code(c.call('rpc', 'query', {})), 401, 'not signed in yet');
  const [token, seconds] = await keySignIn(c, key);
  assert.match(token, /^[0-9a-f]{64}$/);
  assert.equal(seconds, 300);
  assert.equal(typeof (await c.call<Record<string, string>>('rpc', 'query', {}))['rpc/query'], 'string', 'a normal call works');
  assert.deepEqual(await settings(c, { action: 'list_ssl_checksums' }), { md5_keys: [key.checksum] }, "alice's session");
  // The token is an ordinary one: it resumes the session elsewhere.
  const other = await connect(d);
  assert.deepEqual(await other.call('rpc', 'auth_token', { token }), [token, 300]);

  // The REST shim has no connection: its test strings are bound to the address.
  const put = (args: unknown) => fetch(`${d.url}/rpc/auth_ssl`, { method: 'PUT', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(args) }).then(async (r) => ({ status: r.status, body: (await r.json()) as { args: any } }));
  const stage1 = await put({});
  assert.equal(stage1.status, 200);
  secrets.add(stage1.body.args.test_string);
  const stage2 = await put({ encrypted_string: encrypt(key, stage1.body.args.test_string) });
  assert.equal(stage2.status, 200);
  secrets.add(stage2.body.args[0]);
  const res = await fetch(`${d.url}/rpc/query`, { method: 'PUT', headers: { Authorization: `Bearer ${stage2.body.args[0]}`, 'Content-Type': 'application/json' }, body: '{}' });
  assert.equal(res.status, 200);
});

test('the key names the user; a listing shows your own keys, an admin everyone’s', async () => {
  const d = await startDaemon();
  daemons.push(d);
  await addUser(d, 'alice', 'alice-pass-1');
  await addUser(d, 'bob', 'bob-pass-123', 'nic.list');
  const [a, b] = [newKey(), newKey()];
  await settings(await passwordClient(d, 'alice', 'alice-pass-1'), { action: 'register_ssl_cert', pub_key: a.pubKey });
  // The PEM itself is accepted too, and gives the same checksum.
  const reg = await settings(await passwordClient(d, 'bob', 'bob-pass-123'), { action: 'register_ssl_cert', pub_key: b.pem });
  assert.equal(reg.md5_key, b.checksum);

  const asAlice = await connect(d);
  await keySignIn(asAlice, a);
  assert.equal(await code(asAlice.call('sysadm', 'nic', { action: 'list' })), 403, 'alice lacks nic.list');
  assert.deepEqual(await settings(asAlice, { action: 'list_ssl_checksums' }), { md5_keys: [a.checksum] });
  const asBob = await connect(d);
  await keySignIn(asBob, b);
  assert.equal(await code(asBob.call('sysadm', 'nic', { action: 'list' })), 200, 'bob holds nic.list');
  assert.deepEqual(await settings(asBob, { action: 'list_ssl_checksums' }), { md5_keys: [b.checksum] });

  const admin = await passwordClient(d, 'admin', d.adminPassword);
  assert.deepEqual((await settings(admin, { action: 'list_ssl_checksums' })).md5_keys.sort(), [a.checksum, b.checksum].sort());
  assert.deepEqual(Object.keys(await settings(admin, { action: 'list_ssl_certs' })).sort(), ['alice', 'bob']);
});

test('a wrong key gets 401 and counts towards the blacklist with bad passwords: the fifth failure blocks', async () => {
  const d = await startDaemon({ blacklist: { auth_fail_limit: 5, block_minutes: 0.05 } });
  daemons.push(d);
  await addUser(d, 'alice', 'alice-pass-1');
  const [right, wrong] = [newKey(), newKey()];
  const add = await runHyved(['user', 'key', 'add', 'alice', '--config', d.configFile], right.pem);
  assert.equal(add.code, 0, add.stderr);

  const c = await connect(d);
  const badKey = async () => code(keySignIn(c, wrong));
  const badPassword = () => code(c.call('rpc', 'auth', { username: 'alice', password: 'not-the-password' }));
  assert.deepEqual([await badKey(), await badPassword(), await badKey(), await badPassword(), await badKey()], [401, 401, 401, 401, 403]);
  // Blocked: the right key is refused from the first stage on, as is the right password.
  assert.equal(await code(c.call('rpc', 'auth_ssl', {})), 403);
  assert.equal(await code(c.call('rpc', 'auth', { username: 'alice', password: 'alice-pass-1' })), 403);
  await sleep(3200);
  assert.equal(await code(keySignIn(c, right)), 200, 'the block ended');
  assert.equal(await code(c.call('rpc', 'query', {})), 200);
});

test('a test string signs in once, only on the connection that asked, and only for 30 s', async () => {
  // The expiry is watched from a connection that has not signed in for 31 s: past the default
  // sign-in time. Five refusals on purpose, and a success between them no longer resets the count.
  const d = await startDaemon({ connections: { sign_in_timeout_s: 60 }, blacklist: { auth_fail_limit: 10 } });
  daemons.push(d);
  await addUser(d, 'alice', 'alice-pass-1');
  const key = newKey();
  await settings(await passwordClient(d, 'alice', 'alice-pass-1'), { action: 'register_ssl_cert', pub_key: key.pubKey });

  // Reused: the same answer again, on the same connection.
  const c1 = await connect(d);
  const s1 = await testString(c1);
  const answer = encrypt(key, s1);
  assert.equal(await code(c1.call('rpc', 'auth_ssl', { encrypted_string: answer })), 200);
  assert.equal(await code(c1.call('rpc', 'auth_ssl', { encrypted_string: answer })), 401, 'used once already');
  const fresh = await connect(d);
  assert.equal(await code(fresh.call('rpc', 'auth_ssl', { encrypted_string: answer })), 401, 'nor on another connection');

  // Answered on a connection that did not ask: refused, and the asker can still use it.
  const asker = await connect(d);
  const thief = await connect(d);
  const s2 = await testString(asker);
  assert.equal(await code(thief.call('rpc', 'auth_ssl', { encrypted_string: encrypt(key, s2) })), 401);
  assert.equal(await code(thief.call('rpc', 'query', {})), 401);
  assert.equal(await code(asker.call('rpc', 'auth_ssl', { encrypted_string: encrypt(key, s2) })), 200);

  // A string the daemon never gave out, signed with the right key: refused.
  const c3 = await connect(d);
  await testString(c3);
  assert.equal(await code(c3.call('rpc', 'auth_ssl', { encrypted_string: encrypt(key, 'f'.repeat(40)) })), 401);

  // Expired: 30 s after it was given out.
  const late = await connect(d);
  const s3 = await testString(late);
  await sleep(31_000);
  assert.equal(await code(late.call('rpc', 'auth_ssl', { encrypted_string: encrypt(key, s3) })), 401, 'expired');
  assert.equal(await code(keySignIn(late, key)), 200, 'a new one works');
});

test('revoking a key ends its sign-in; keys are checked, one user each, and only admins touch other users’ keys', async () => {
  const d = await startDaemon();
  daemons.push(d);
  await addUser(d, 'alice', 'alice-pass-1');
  await addUser(d, 'bob', 'bob-pass-123');
  const [a1, a2, b] = [newKey(), newKey(), newKey()];
  const alice = await passwordClient(d, 'alice', 'alice-pass-1');
  const bob = await passwordClient(d, 'bob', 'bob-pass-123');
  await settings(alice, { action: 'register_ssl_cert', pub_key: a1.pubKey, nickname: 'one' });
  await settings(alice, { action: 'register_ssl_cert', pub_key: a2.pubKey, nickname: 'two' });
  await settings(bob, { action: 'register_ssl_cert', pub_key: b.pubKey });
  const again = await settings(alice, { action: 'register_ssl_cert', pub_key: a1.pubKey, nickname: 'uno' });
  assert.equal(again.added, false, 'the same key again only renames it');
  assert.match((await settings(alice, { action: 'list_ssl_certs' })).alice[a1.pubKey], /^Nickname: uno\n/);

  const refused = (args: Record<string, unknown>, c = alice) => code(settings(c, args));
  assert.equal(await refused({ action: 'register_ssl_cert', pub_key: b.pubKey }), 409, "bob's key cannot be alice's too");
  const priv = a1.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
  secrets.add(priv);
  assert.equal(await refused({ action: 'register_ssl_cert', pub_key: priv }), 400, 'a private key');
  assert.equal(await refused({ action: 'register_ssl_cert', pub_key: Buffer.from(priv).toString('base64') }), 400, 'a private key, base64');
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' });
  assert.equal(await refused({ action: 'register_ssl_cert', pub_key: ec }), 400, 'not RSA');
  assert.equal(await refused({ action: 'register_ssl_cert', pub_key: newKey(1024).pem }), 400, 'too short');
  assert.equal(await refused({ action: 'register_ssl_cert', pub_key: 'bm90IGEga2V5' }), 400, 'not a key');

  // Revoke by checksum; the Qt client's way (user and the pub_key list_ssl_certs shows) for the other.
  assert.deepEqual(await settings(alice, { action: 'revoke_ssl_cert', md5_key: a1.checksum }), { user: 'alice', md5_key: a1.checksum });
  assert.equal(await code(keySignIn(await connect(d), a1)), 401, 'revoked');
  assert.equal(await code(keySignIn(await connect(d), a2)), 200, 'the other key still works');
  assert.equal(await refused({ action: 'revoke_ssl_cert', md5_key: a1.checksum }), 404, 'revoked already');
  assert.equal(await refused({ action: 'revoke_ssl_cert', md5_key: b.checksum }), 404, "not alice's");
  assert.equal(await refused({ action: 'revoke_ssl_cert', md5_key: b.checksum, user: 'bob' }), 403, "alice may not touch bob's keys");
  assert.equal(await refused({ action: 'revoke_ssl_cert', md5_key: b.checksum, pub_key: b.pubKey }), 400, 'one of md5_key and pub_key');
  assert.deepEqual(await settings(alice, { action: 'revoke_ssl_cert', user: 'alice', pub_key: a2.pubKey }), { user: 'alice', md5_key: a2.checksum });
  assert.equal(await code(keySignIn(await connect(d), a2)), 401);
  assert.deepEqual(await settings(alice, { action: 'list_ssl_certs' }), {});

  const admin = await passwordClient(d, 'admin', d.adminPassword);
  assert.deepEqual(await settings(admin, { action: 'revoke_ssl_cert', user: 'bob', md5_key: b.checksum }), { user: 'bob', md5_key: b.checksum });
  assert.equal(await code(keySignIn(await connect(d), b)), 401);
  assert.equal((await stat(path.join(d.stateDir, 'users.json'))).mode & 0o777, 0o600);
});

test('hyved user key add/list/del, and the running daemon takes the changes at once', async () => {
  const d = await startDaemon();
  daemons.push(d);
  const cfg = ['--config', d.configFile];
  await addUser(d, 'carol', 'carol-pass-1');
  const [k1, k2] = [newKey(), newKey()];
  const add1 = await runHyved(['user', 'key', 'add', 'carol', '--nickname', 'ci box', '--email', 'carol@example.org', ...cfg], k1.pem);
  assert.equal(add1.code, 0, add1.stderr);
  assert.equal(add1.stdout, `added key ${k1.checksum} for carol\n`);
  assert.equal(await code(keySignIn(await connect(d), k1)), 200, 'the daemon took the new key without a restart');

  const dir = await tempDir();
  const file = path.join(dir, 'k2.pem');
  // A PKCS#1 RSA public key from a file: stored in its canonical form, same checksum.
  await writeFile(file, createPublicKey(k2.pem).export({ type: 'pkcs1', format: 'pem' }));
  const add2 = await runHyved(['user', 'key', 'add', 'carol', '--file', file, ...cfg]);
  assert.equal(add2.code, 0, add2.stderr);
  assert.match(add2.stdout, new RegExp(`added key ${re(k2.checksum)} for carol`));

  const list = await runHyved(['user', 'key', 'list', 'carol', ...cfg]);
  assert.equal(list.code, 0, list.stderr);
  assert.match(list.stdout, new RegExp(`^${re(k1.checksum)}  \\S+  ci box <carol@example.org>$`, 'm'));
  assert.match(list.stdout, new RegExp(`^${re(k2.checksum)}  \\S+  -$`, 'm'));
  assert.match((await runHyved(['user', 'list', ...cfg])).stdout, /^carol  keys: 2$/m);
  const carol = await passwordClient(d, 'carol', 'carol-pass-1');
  assert.deepEqual((await settings(carol, { action: 'list_ssl_checksums' })).md5_keys, [k1.checksum, k2.checksum]);

  // Refusals: exit 2 and a message.
  const dupe = await runHyved(['user', 'key', 'add', 'admin', ...cfg], k1.pem);
  assert.equal(dupe.code, 2);
  assert.match(dupe.stderr, /registered to another user/);
  assert.equal((await runHyved(['user', 'key', 'add', 'nobody', ...cfg], k1.pem)).code, 2, 'no such user');
  assert.equal((await runHyved(['user', 'key', 'del', 'carol', 'AAAAAAAAAAAAAAAAAAAAAA==', ...cfg])).code, 2, 'no such key');
  assert.equal((await runHyved(['user', 'key', 'del', 'carol', ...cfg])).code, 2, 'CHECKSUM missing');

  const del = await runHyved(['user', 'key', 'del', 'carol', k1.checksum, ...cfg]);
  assert.equal(del.code, 0, del.stderr);
  assert.equal(await code(keySignIn(await connect(d), k1)), 401, 'the daemon saw the removal at once');
  assert.doesNotMatch((await runHyved(['user', 'key', 'list', 'carol', ...cfg])).stdout, new RegExp(re(k1.checksum)));

  // A user's keys go with the user: the same name made anew has none.
  assert.equal((await runHyved(['user', 'del', 'carol', ...cfg])).code, 0);
  await addUser(d, 'carol', 'carol-pass-2');
  assert.equal((await runHyved(['user', 'key', 'list', 'carol', ...cfg])).stdout, '');
  assert.equal(await code(keySignIn(await connect(d), k2)), 401);
});

test('a damaged key in users.json costs its user only, as other damage does', async () => {
  const dir = await tempDir();
  const sd = ['--state-dir', dir];
  for (const u of ['dave', 'erin']) assert.equal((await runHyved(['user', 'add', u, '--password-stdin', ...sd], `${u}-pass-123`)).code, 0);
  for (const u of ['dave', 'erin']) assert.equal((await runHyved(['user', 'key', 'add', u, ...sd], newKey().pem)).code, 0);
  const usersFile = path.join(dir, 'users.json');
  const file = JSON.parse(await readFile(usersFile, 'utf8'));
  file.users.dave.keys[0].pem = '-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n';
  await writeFile(usersFile, JSON.stringify(file));
  const list = await runHyved(['user', 'list', ...sd]);
  assert.match(list.stderr, /skipping user 'dave': \/users\/dave\/keys\/0\/pem: not a readable PEM public key/);
  assert.match(list.stdout, /^erin  keys: 1$/m);
  assert.doesNotMatch(list.stdout, /dave/);
});

test('keys, test strings, encrypted strings and tokens never reach the log or the output', async () => {
  assert.ok(secrets.size > 20, 'the tests above ran');
  for (const d of daemons) {
    await d.stop();
    const logged = d.output() + (await readFile(path.join(d.stateDir, 'hyved.log'), 'utf8'));
    assert.match(logged, /auth_ssl/, 'requests are logged');
    for (const s of secrets) assert.ok(!logged.includes(s), `a secret (${s.slice(0, 12)}...) was logged`);
    for (const s of secrets) {
      // PEM bodies, line by line too.
      for (const line of s.split('\n')) if (line.length > 40 && !line.startsWith('-----')) assert.ok(!logged.includes(line), 'a key line was logged');
    }
  }
});

function re(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}
