/**
 * Sessions bound to their account, event streams bound to their session, a blacklist that counts
 * per network and per account, and bounded password checks: each against a real daemon.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { HyvedClient, CallError } from '../src/client/client.js';
import { RawSocket } from './helpers/raw.js';
import { runHyved, startDaemon, type TestDaemon } from './helpers/daemon.js';
import { waitFor } from './helpers/wait.js';

const daemons: TestDaemon[] = [];
after(() => Promise.all(daemons.map((d) => d.stop())));

async function daemon(config: Record<string, unknown> = {}): Promise<TestDaemon> {
  const d = await startDaemon(config);
  daemons.push(d);
  return d;
}

const code = (p: Promise<unknown>): Promise<number> =>
  p.then(
    () => 200,
    (e: CallError) => e.code,
  );

const basic = (user: string, password: string) => 'Basic ' + Buffer.from(`${user}:${password}`).toString('base64');

/** PUT /rpc/query over a fresh connection from `localAddress`; resolves with the HTTP status. */
function restStatus(d: TestDaemon, authorization: string, localAddress = '127.0.0.1'): Promise<number> {
  const url = new URL('/rpc/query', d.url);
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: url.hostname, port: url.port, path: url.pathname, method: 'PUT', localAddress, agent: false, headers: { Authorization: authorization, 'Content-Type': 'application/json' } },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end('{}');
  });
}

async function addUser(d: TestDaemon, name: string, password: string, ...flags: string[]): Promise<void> {
  const r = await runHyved(['user', 'add', name, ...flags, '--password-stdin', '--config', d.configFile], password + '\n');
  assert.equal(r.code, 0, r.stderr);
}

async function hyvedUser(d: TestDaemon, args: string[], stdin?: string): Promise<void> {
  const r = await runHyved(['user', ...args, '--config', d.configFile], stdin);
  assert.equal(r.code, 0, r.stderr);
}

/** Frames with id "" that are not events: the daemon's notices (a 401 when the session ends). */
function notices(c: HyvedClient): { code: number; message: string }[] {
  const got: { code: number; message: string }[] = [];
  c.on('unmatched', (msg: { id: string; name: string; args: { code: number; message: string } }) => {
    if (msg.id === '' && msg.name === 'error') got.push(msg.args);
  });
  return got;
}

function audits(c: HyvedClient): unknown[] {
  const got: unknown[] = [];
  c.on('event', (name: string, args: unknown) => name === 'audit' && got.push(args));
  return got;
}

/** `n` audit events, from anonymous requests on a connection of its own. */
async function makeEvents(d: TestDaemon, n: number): Promise<void> {
  const s = await RawSocket.open(d.url);
  for (let i = 0; i < n; i++) s.send(JSON.stringify({ namespace: 'rpc', name: 'identify', id: `gen${i}`, args: {} }));
  for (let i = 0; i < n; i++) await s.next();
  s.close();
}

/** Rewrites users.json as an operator's editor would (a new file renamed over it). */
async function editUsers(d: TestDaemon, edit: (users: Record<string, { admin: boolean; perms: Record<string, string[]> }>) => void): Promise<void> {
  const file = path.join(d.stateDir, 'users.json');
  const data = JSON.parse(await readFile(file, 'utf8'));
  edit(data.users);
  await writeFile(`${file}.edit`, JSON.stringify(data), { mode: 0o600 });
  await rename(`${file}.edit`, file);
}

test('hyved user passwd ends the sessions opened with the old password: Bearer, auth_token and open sockets', async () => {
  const d = await daemon();
  await addUser(d, 'bob', 'first-password', '--perm', 'vm.view');
  const c = await d.client('bob', 'first-password');
  const told = notices(c);
  const token = await c.login('bob', 'first-password');
  assert.equal(await restStatus(d, `Bearer ${token}`), 200);

  await hyvedUser(d, ['passwd', 'bob', '--password-stdin'], 'second-password\n');
  await waitFor(() => told.length > 0, 'the 401 notice on the open socket', 3000);
  assert.equal(told[0].code, 401);
  assert.match(told[0].message, /authenticate again/);
  assert.equal(await code(c.call('rpc', 'query', {})), 401, 'the socket is signed out');
  assert.equal(await restStatus(d, `Bearer ${token}`), 401, 'REST Bearer with the old token');
  const other = await HyvedClient.connect(d.url);
  assert.equal(await code(other.call('rpc', 'auth_token', { token })), 401, 'rpc/auth_token with the old token');
  assert.equal(await code(c.call('rpc', 'auth', { username: 'bob', password: 'second-password' })), 200, 'the new password works on the same socket');
  assert.equal(await code(c.call('rpc', 'query', {})), 200);
  c.close();
  other.close();
});

test("a deleted user's token stays dead when the name is created again, with other rights", async () => {
  const d = await daemon();
  await addUser(d, 'carol', 'carol-password', '--perm', 'vm.view');
  const c = await d.client('carol', 'carol-password');
  const token = await c.login('carol', 'carol-password');
  c.close();
  await hyvedUser(d, ['del', 'carol']);
  await addUser(d, 'carol', 'carol-password', '--admin');
  assert.equal(await restStatus(d, `Bearer ${token}`), 401);
  assert.equal(await restStatus(d, basic('carol', 'carol-password')), 200, 'the new account signs in itself');
});

test('a deleted admin loses the audit stream at once, told by a 401 notice', async () => {
  const d = await daemon();
  await addUser(d, 'dave', 'dave-password', '--admin');
  const c = await d.client('dave', 'dave-password');
  const told = notices(c);
  const got = audits(c);
  await c.call('events', 'subscribe', ['audit']);
  await makeEvents(d, 3);
  await waitFor(() => got.length >= 3, 'audit events before the deletion');

  await hyvedUser(d, ['del', 'dave']);
  await waitFor(() => told.length > 0, 'the 401 notice', 3000);
  const before = got.length;
  await makeEvents(d, 20);
  await sleep(300);
  assert.equal(got.length, before, 'no audit event after the account was deleted');
  assert.equal(told[0].code, 401);
  c.close();
});

test('revoking a right (users.json edited by hand) ends the session and its event stream', async () => {
  const d = await daemon();
  await addUser(d, 'erin', 'erin-password', '--admin');
  const c = await d.client('erin', 'erin-password');
  const told = notices(c);
  const got = audits(c);
  await c.call('events', 'subscribe', ['audit']);
  await makeEvents(d, 2);
  await waitFor(() => got.length >= 2, 'audit events while admin');

  await editUsers(d, (users) => {
    users.erin.admin = false;
  });
  await waitFor(() => told.length > 0, 'the 401 notice', 3000);
  const before = got.length;
  await makeEvents(d, 20);
  await sleep(300);
  assert.equal(got.length, before, 'no audit event once admin was revoked');
  // Signing in again gives the new rights: no audit.
  await c.login('erin', 'erin-password');
  assert.equal(await code(c.call('events', 'subscribe', ['audit'])), 403);
  c.close();
});

test('an event stream ends when its token idles out', async () => {
  const d = await daemon({ token_timeout_s: 1 });
  const c = await d.client();
  const told = notices(c);
  const got = audits(c);
  await c.call('events', 'subscribe', ['audit']);
  await makeEvents(d, 2);
  await waitFor(() => got.length >= 2, 'audit events while the session is live');
  await sleep(1300);
  const before = got.length;
  await makeEvents(d, 20);
  await sleep(300);
  assert.equal(got.length, before, 'no event after the session idled out');
  await waitFor(() => told.length > 0, 'the 401 notice', 3000);
  assert.match(told[0].message, /idled out/);
  c.close();
});

test('wrong passwords from many 127/8 addresses count as one address', async () => {
  const d = await daemon({ blacklist: { auth_fail_limit: 5, block_minutes: 60 } });
  const statuses: number[] = [];
  // Another name each time, so that only the address count can block.
  for (let i = 0; i < 80; i++) statuses.push(await restStatus(d, basic(`guess${i}`, 'wrong-password'), `127.0.0.${10 + (i % 20)}`));
  assert.deepEqual(statuses.slice(0, 5), [401, 401, 401, 401, 403]);
  assert.ok(statuses.slice(5).every((s) => s === 403), `after the block: ${statuses.slice(5).join(',')}`);
  assert.equal(await restStatus(d, basic('admin', d.adminPassword), '127.0.0.1'), 403, 'all of loopback is blocked');
});

test("a correct login does not wipe the address's failures", async () => {
  const d = await daemon({ blacklist: { auth_fail_limit: 5, block_minutes: 60 } });
  const statuses: number[] = [];
  for (let i = 0; i < 24; i++) {
    statuses.push(await restStatus(d, basic('victim', `wrong-${i}`)));
    if (i % 4 === 3) statuses.push(await restStatus(d, basic('admin', d.adminPassword)));
  }
  assert.deepEqual(statuses.slice(0, 6), [401, 401, 401, 401, 200, 403]);
  assert.ok(!statuses.slice(6).includes(200) && !statuses.slice(6).includes(401), statuses.join(','));
});

test('failures count per account too: a guessed-at user is blocked while others still sign in', async () => {
  const d = await daemon({ blacklist: { auth_fail_limit: 100, account_fail_limit: 3, block_minutes: 60 } });
  await addUser(d, 'frank', 'frank-password', '--perm', 'vm.view');
  const statuses: number[] = [];
  for (let i = 0; i < 3; i++) statuses.push(await restStatus(d, basic('admin', `wrong-${i}`), `127.0.0.${20 + i}`));
  assert.deepEqual(statuses, [401, 401, 403]);
  assert.equal(await restStatus(d, basic('admin', d.adminPassword)), 403, 'the right password is refused while admin is blocked');
  assert.equal(await restStatus(d, basic('frank', 'frank-password')), 200, 'the address is not blocked');
});

test('parallel guesses get no more checks than the limit: the right password sent behind them is refused', async () => {
  const d = await daemon({ blacklist: { auth_fail_limit: 5, block_minutes: 60 } });
  const wrong = Array.from({ length: 59 }, (_, i) => restStatus(d, basic('admin', `wrong-${i}`), `127.0.0.${30 + (i % 50)}`));
  await sleep(20);
  const right = await restStatus(d, basic('admin', d.adminPassword), '127.0.0.99');
  const statuses = await Promise.all(wrong);
  assert.notEqual(right, 200, 'the right password after 59 guesses');
  assert.ok(statuses.filter((s) => s === 401).length <= 4, `answers: ${statuses.join(',')}`);
  assert.ok(statuses.every((s) => [401, 403, 429].includes(s)), `answers: ${statuses.join(',')}`);
});

test('a flood of wrong passwords from 100 addresses leaves a real login and tokens fast', async () => {
  // Limits out of reach: this is about the cost of checks, not about blocking.
  const d = await daemon({ blacklist: { auth_fail_limit: 100_000 } });
  const token = await (await d.client()).login('admin', d.adminPassword);
  const flood = Array.from({ length: 400 }, (_, i) => restStatus(d, basic(`user${i}`, `wrong-${i}`), `127.0.1.${1 + (i % 100)}`));
  // Past accepting the flood's 400 connections, which is not what is measured.
  await sleep(300);
  let started = Date.now();
  assert.equal(await restStatus(d, `Bearer ${token}`), 200);
  // Loose bounds: a loaded CI machine took 1.1 s here. Queued behind the flood's password checks
  // (2 at a time, some 50 ms of scrypt each) a token check or login would wait many seconds more.
  assert.ok(Date.now() - started < 3000, `a token check took ${Date.now() - started} ms during the flood`);
  started = Date.now();
  let status = 0;
  // Refused at once (429) while the address has its share of checks in progress: retry.
  while ((status = await restStatus(d, basic('admin', d.adminPassword))) === 429) await sleep(50);
  const took = Date.now() - started;
  assert.equal(status, 200);
  assert.ok(took < 5000, `a real login took ${took} ms during the flood`);
  const statuses = await Promise.all(flood);
  assert.ok(statuses.every((s) => s === 401 || s === 429), statuses.join(','));
});
