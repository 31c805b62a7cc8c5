import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { HyvedClient, CallError } from '../src/client/client.js';
import { Blacklist } from '../src/server/blacklist.js';
import { Sessions, sessionKey } from '../src/server/sessions.js';
import { startDaemon, type TestDaemon } from './helpers/daemon.js';
import { setTimeout as sleep } from 'node:timers/promises';

const daemons: TestDaemon[] = [];
after(() => Promise.all(daemons.map((d) => d.stop())));

async function code(p: Promise<unknown>): Promise<number> {
  return p.then(
    () => 200,
    (e: CallError) => e.code,
  );
}


test('a token expires after the configured idle time, and each request restarts its clock', async () => {
  const d = await startDaemon({ token_timeout_s: 1 });
  daemons.push(d);
  const c = await HyvedClient.connect(d.url);
  const [token, seconds] = await c.call<[string, number]>('rpc', 'auth', { username: 'admin', password: d.adminPassword });
  assert.equal(seconds, 1);
  for (let i = 0; i < 4; i++) {
    await sleep(500);
    assert.equal(await code(c.call('rpc', 'query', {})), 200, 'kept alive by use');
  }
  await sleep(1300);
  assert.equal(await code(c.call('rpc', 'query', {})), 401);
  const other = await HyvedClient.connect(d.url);
  assert.equal(await code(other.call('rpc', 'auth_token', { token })), 401);
  c.close();
  other.close();
});

test('five failed logins block the address: 403 even with the right password, until the block ends', async () => {
  const d = await startDaemon({ blacklist: { auth_fail_limit: 5, block_minutes: 0.05 } });
  daemons.push(d);
  const c = await HyvedClient.connect(d.url);
  const codes: number[] = [];
  for (let i = 0; i < 5; i++) codes.push(await code(c.call('rpc', 'auth', { username: 'admin', password: `wrong-${i}` })));
  assert.deepEqual(codes, [401, 401, 401, 401, 403]);
  const started = Date.now();
  assert.equal(await code(c.call('rpc', 'auth', { username: 'admin', password: d.adminPassword })), 403);
  assert.ok(Date.now() - started < 30, 'blocked addresses are refused without a password check (no scrypt)');
  // The REST shim shares the blacklist.
  const res = await fetch(`${d.url}/sysadm/nic`, {
    method: 'PUT',
    headers: { Authorization: 'Basic ' + Buffer.from(`admin:${d.adminPassword}`).toString('base64'), 'Content-Type': 'application/json' },
    body: JSON.stringify({ action: 'list' }),
  });
  assert.equal(res.status, 403);
  await sleep(3200);
  assert.equal(await code(c.call('rpc', 'auth', { username: 'admin', password: d.adminPassword })), 200);
  c.close();
});

test('failures spread over more than reset_minutes do not add up; a success does not reset the count', async () => {
  const d = await startDaemon({ blacklist: { auth_fail_limit: 3, block_minutes: 60, reset_minutes: 0.02 } });
  daemons.push(d);
  const c = await HyvedClient.connect(d.url);
  const fail = () => code(c.call('rpc', 'auth', { username: 'admin', password: 'nope-nope' }));
  assert.equal(await fail(), 401);
  assert.equal(await fail(), 401);
  await sleep(1500);
  assert.equal(await fail(), 401, 'count restarted after the quiet period');
  assert.equal(await code(c.call('rpc', 'auth', { username: 'admin', password: d.adminPassword })), 200);
  assert.equal(await fail(), 401);
  assert.equal(await fail(), 403, 'the third failure in a row blocks, the success between them notwithstanding');
  c.close();
});

test('Blacklist policy with a controlled clock', () => {
  let now = 0;
  const b = new Blacklist({ auth_fail_limit: 5, account_fail_limit: 10, block_minutes: 60, reset_minutes: 10, ipv6_prefix: 64 }, () => now);
  for (let i = 0; i < 4; i++) assert.equal(b.fail('a'), false);
  assert.equal(b.isBlocked('a'), false);
  assert.equal(b.fail('a'), true);
  assert.equal(b.isBlocked('a'), true);
  assert.equal(b.isBlocked('b'), false, 'other addresses unaffected');
  now += 59 * 60_000;
  assert.equal(b.isBlocked('a'), true);
  now += 2 * 60_000;
  assert.equal(b.isBlocked('a'), false, 'block lasts block_minutes');
  for (let i = 0; i < 4; i++) b.fail('c');
  now += 11 * 60_000;
  assert.equal(b.fail('c'), false, 'quiet period reset the count');
});

test('Sessions expire when idle and only then', () => {
  let now = 0;
  const s = new Sessions(1000, () => now);
  const t = s.create('alice', 'stamp');
  assert.notEqual(t, s.create('alice', 'stamp'), 'tokens are unique');
  now = 900;
  assert.equal(s.use(sessionKey(t))?.username, 'alice');
  now = 1800;
  assert.equal(s.use(sessionKey(t))?.username, 'alice', 'use restarted the clock');
  now = 2801;
  assert.equal(s.use(sessionKey(t)), null);
  assert.equal(s.use(sessionKey('forged')), null);
  s.close();
});

test('tokens never begin with "-", so a command line takes them as values', () => {
  const s = new Sessions(1000);
  for (let i = 0; i < 2000; i++) assert.match(s.create('alice', 'stamp'), /^[0-9a-f]{64}$/);
  s.close();
});
