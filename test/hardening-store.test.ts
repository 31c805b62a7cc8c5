import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { generateKeyPairSync } from 'node:crypto';
import { link, mkdir, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { HyvedClient } from '../src/client/client.js';
import { HYVED, runHyved, startDaemon, tempDir, type TestDaemon } from './helpers/daemon.js';
import { startIsoServer, type IsoServer } from './helpers/servers.js';
import { waitFor } from './helpers/wait.js';

const run = promisify(execFile);
const daemons: TestDaemon[] = [];
const closers: (() => Promise<unknown>)[] = [];
after(async () => {
  for (const c of closers.reverse()) await c().catch(() => {});
  await Promise.all(daemons.map((d) => d.stop('SIGKILL')));
});

async function boot(config: Record<string, unknown> = {}, stateDir?: string): Promise<TestDaemon> {
  const d = await startDaemon(config, stateDir);
  daemons.push(d);
  return d;
}

async function userNames(dir: string): Promise<string[]> {
  return Object.keys(JSON.parse(await readFile(path.join(dir, 'users.json'), 'utf8')).users).sort();
}

// 15: users.json is read, changed and written under one lock by every process.

test('parallel `hyved user add` keep every user; a `user del` is not undone by a concurrent add', async () => {
  const dir = await tempDir();
  const sd = ['--state-dir', dir];
  const names = Array.from({ length: 8 }, (_, i) => `user${i}`);
  const adds = await Promise.all(names.map((n) => runHyved(['user', 'add', n, '--password-stdin', ...sd], `${n}-password`)));
  for (const r of adds) assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(await userNames(dir), names);

  const mixed = await Promise.all([
    ...names.slice(0, 4).map((n) => runHyved(['user', 'del', n, ...sd])),
    ...['late0', 'late1', 'late2', 'late3'].map((n) => runHyved(['user', 'add', n, '--password-stdin', ...sd], `${n}-password`)),
  ]);
  for (const r of mixed) assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(await userNames(dir), [...names.slice(4), 'late0', 'late1', 'late2', 'late3'].sort());
  assert.deepEqual((await readdir(dir)).filter((n) => n.includes('.lock')), [], 'no lock left behind');
});

test('the daemon and the command line wait for users.json.lock; a lock of a dead process is taken over', async () => {
  const d = await boot();
  const lock = path.join(d.stateDir, 'users.json.lock');
  // Held by this (live) test process.
  await writeFile(lock, `${process.pid}\n`);
  const started = Date.now();
  const add = runHyved(['user', 'add', 'alice', '--password-stdin', '--state-dir', d.stateDir], 'alice-password');
  const admin = await d.client();
  const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const pem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
  const register = admin.call('rpc', 'settings', { action: 'register_ssl_cert', pub_key: pem, nickname: 'k' });
  let registered = false;
  void register.then(() => (registered = true));
  await sleep(700);
  assert.equal(registered, false, 'the daemon waits for the lock to register a key');
  assert.equal((await stat(path.join(d.stateDir, 'users.json'))).size > 0, true);
  assert.ok(!(await userNames(d.stateDir)).includes('alice'), 'the command line waits too');
  await rm(lock);
  const r = await add;
  assert.equal(r.code, 0, r.stderr);
  await register;
  assert.ok(Date.now() - started >= 700);
  const file = JSON.parse(await readFile(path.join(d.stateDir, 'users.json'), 'utf8'));
  assert.ok(file.users.alice, 'the add is kept');
  assert.equal(file.users.admin.keys.length, 1, 'and so is the key registered by the daemon');

  // A pid that cannot exist: the lock is stale and taken over at once.
  await writeFile(lock, '999999999\n');
  const bob = await runHyved(['user', 'add', 'bob', '--password-stdin', '--state-dir', d.stateDir], 'bob-password');
  assert.equal(bob.code, 0, bob.stderr);
  admin.close();
});

// 16: a users.json that exists but holds no usable user is never replaced by a first-start admin.

test('users.json holding [] is not a first start: no admin is made, the file stays, `hyved user add --admin` recovers', async () => {
  const dir = await tempDir();
  const usersFile = path.join(dir, 'users.json');
  await writeFile(usersFile, '[]\n', { mode: 0o600 });
  const d = await boot({}, dir);
  assert.doesNotMatch(d.output(), /Created user 'admin'/);
  await assert.rejects(readFile(path.join(dir, 'admin-password')));
  assert.equal(await readFile(usersFile, 'utf8'), '[]\n', 'users.json is left as it was');
  assert.match(d.output(), /holds no usable user: nobody can sign in/);
  assert.match(d.output(), /hyved user add NAME --admin --state-dir /);

  const r = await runHyved(['user', 'add', 'root', '--admin', '--password-stdin', '--state-dir', dir], 'root-password');
  assert.equal(r.code, 0, r.stderr);
  const c = await waitFor(() => d.client('root', 'root-password').catch(() => null), 'the daemon to see the new admin');
  c.close();
  const kept = (await readdir(dir)).filter((n) => n.startsWith('users.json.corrupt-'));
  assert.equal(kept.length, 1);
  assert.equal(await readFile(path.join(dir, kept[0]), 'utf8'), '[]\n', 'the damaged original is kept');
});

// 17: debris and messages.

test('temp files of cut-off writes and VM dirs without vm.json are removed at start, without errors', async () => {
  const dir = await tempDir();
  const debris = [
    path.join(dir, '.users.json.tmp-0123456789ab'),
    path.join(dir, 'tasks', '.sometask.json.tmp-0123456789ab'),
    path.join(dir, 'vms', 'halfmade01', '.vm.json.tmp-0123456789ab'),
  ];
  for (const f of debris) {
    await mkdir(path.dirname(f), { recursive: true });
    await writeFile(f, '{"torn');
  }
  // A VM whose damaged vm.json was moved aside stays, with that copy.
  const keptDir = path.join(dir, 'vms', 'keptcopy01');
  await mkdir(keptDir, { recursive: true });
  await writeFile(path.join(keptDir, 'vm.json.corrupt-20240101T000000.000Z'), '{');
  const d = await boot({}, dir);
  for (const f of debris) await assert.rejects(stat(f), `${f} is removed`);
  await assert.rejects(stat(path.join(dir, 'vms', 'halfmade01')), 'the half-made VM dir is removed');
  await stat(path.join(keptDir, 'vm.json.corrupt-20240101T000000.000Z'));
  assert.doesNotMatch(d.output(), /halfmade01\/vm\.json/, 'no error about it');
  await d.stop();
  const again = await boot({}, dir);
  assert.doesNotMatch(again.output(), /halfmade01|tmp-0123456789ab/, 'nothing to say on the next start');
});

test('`//` as a request path is answered as any other path (404), not a 500', async () => {
  const d = await boot();
  const { port } = new URL(d.url);
  for (const [p, expected] of [['//', 404], ['///x', 404], ['//sysadm/nic', 400]] as const) {
    const status = await new Promise<number>((resolve, reject) => {
      http.request({ host: '127.0.0.1', port, path: p, method: 'PUT', headers: { 'Content-Type': 'application/json' } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      }).on('error', reject).end('{}');
    });
    assert.equal(status, expected, p);
  }
  assert.doesNotMatch(d.output(), /failed: TypeError/);
});

test('a read-only state dir is named as such at start', async (t) => {
  const mnt = await tempDir();
  try {
    await run('mount', ['-t', 'tmpfs', '-o', 'ro,size=1m', 'tmpfs', mnt]);
  } catch {
    t.skip('needs root to mount a read-only tmpfs');
    return;
  }
  closers.push(() => run('umount', [mnt]));
  for (const stateDir of [mnt, path.join(mnt, 'state')]) {
    const r = await new Promise<{ code: number | null; out: string }>((resolve) => {
      const p = execFile(process.execPath, [HYVED, 'serve', '--listen', '127.0.0.1:0', '--state-dir', stateDir], () => {});
      let out = '';
      p.stdout!.on('data', (x) => (out += x));
      p.stderr!.on('data', (x) => (out += x));
      p.on('exit', (code) => resolve({ code, out }));
    });
    assert.equal(r.code, 2, r.out);
    assert.match(r.out, new RegExp(`^hyved: state dir ${stateDir} is read-only \\(EROFS\\)`), r.out);
    assert.doesNotMatch(r.out, /\n\s+at /, 'no stack trace');
  }
});

// 18: fetchiso reaches no internal service unless allowed.

async function fetchResult(c: HyvedClient, url: string, name = 'x.iso'): Promise<{ result: string; error: string }> {
  const finished = new Map<string, { result: string; error: string }>();
  const on = (n: string, a: { process_id: string; state: string; result: string; error: string }) => {
    if (n === 'dispatcher' && a.state === 'finished') finished.set(a.process_id, a);
  };
  c.on('event', on);
  try {
    const { fetchiso } = await c.call<{ fetchiso: { queueid: string } }>('sysadm', 'iohyve', { action: 'fetchiso', url, name });
    return await waitFor(() => finished.get(fetchiso.queueid), `fetch of ${url}`, 20_000);
  } finally {
    c.off('event', on);
  }
}

async function closedPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as AddressInfo;
  await new Promise((r) => s.close(r));
  return port;
}

test('fetchiso refuses loopback, private and link-local destinations, also by name and after a redirect, with one message for open and closed ports', async () => {
  const web: IsoServer = await startIsoServer(64 * 1024);
  closers.push(() => web.close());
  const webPort = new URL(web.url).port;
  // 127.0.0.2 is allowed and redirects to the (refused) 127.0.0.1.
  const redirector = http.createServer((_req, res) => res.writeHead(302, { location: `http://127.0.0.1:${webPort}/big.iso` }).end());
  await new Promise<void>((r) => redirector.listen(0, '127.0.0.2', r));
  closers.push(() => new Promise((r) => redirector.close(r)));
  const d = await boot({ iso: { allow_private: ['127.0.0.2/32'] } });
  const c = await d.client();
  await c.call('events', 'subscribe', ['dispatcher']);
  const ownPort = new URL(d.url).port;
  const closed = await closedPort();

  const uniform = (port: string | number) => `cannot connect to 127.0.0.1:${port}: refused, unreachable, or not allowed`;
  const open = await fetchResult(c, `${web.url}/big.iso`);
  assert.equal(open.result, 'failed');
  assert.ok(open.error.includes(uniform(webPort)), open.error);
  const own = await fetchResult(c, `http://127.0.0.1:${ownPort}/healthz`);
  assert.ok(own.error.includes(uniform(ownPort)), own.error);
  const shut = await fetchResult(c, `http://127.0.0.1:${closed}/x.iso`);
  assert.ok(shut.error.includes(uniform(closed)), shut.error);
  assert.equal(open.error.replace(webPort, 'P'), shut.error.replace(String(closed), 'P'), 'open and closed ports read the same');

  for (const url of [
    `http://localhost:${webPort}/big.iso`,
    `ftp://127.0.0.1:${webPort}/big.iso`,
    `http://[::1]:${webPort}/big.iso`,
    'http://169.254.169.254/latest/meta-data',
    'http://10.0.0.1/x.iso',
    'http://192.168.1.1/x.iso',
    `http://[::ffff:127.0.0.1]:${webPort}/big.iso`,
  ]) {
    const r = await fetchResult(c, url);
    assert.equal(r.result, 'failed', url);
    assert.match(r.error, /refused, unreachable, or not allowed/, `${url}: ${r.error}`);
  }
  const redirected = await fetchResult(c, `http://127.0.0.2:${(redirector.address() as AddressInfo).port}/x.iso`);
  assert.equal(redirected.result, 'failed');
  assert.ok(redirected.error.includes(uniform(webPort)), redirected.error);
  assert.deepEqual((await readdir(path.join(d.stateDir, 'images', 'iso'))).filter((n) => !n.startsWith('.')), [], 'nothing stored');
  c.close();
});

test('iso.allow_private lets the listed addresses through, and a bad entry is refused at start', async () => {
  const web = await startIsoServer(64 * 1024);
  closers.push(() => web.close());
  const d = await boot({ iso: { allow_private: ['127.0.0.1/32'] } });
  const c = await d.client();
  await c.call('events', 'subscribe', ['dispatcher']);
  assert.equal((await fetchResult(c, `${web.url}/big.iso`, 'ok.iso')).result, 'success');
  c.close();
  const dir = await tempDir();
  const config = path.join(dir, 'c.json');
  await writeFile(config, JSON.stringify({ listen: '127.0.0.1:0', state_dir: dir, iso: { allow_private: ['127.0.0.1/99'] } }));
  const r = await runHyved(['serve', '--config', config]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /\/iso\/allow_private\/0: '127\.0\.0\.1\/99' is not an address or address\/prefix/);
});

// 19: a hard link in an import dir does not import a file from elsewhere.

test('file:// refuses a file with more than one hard link', async () => {
  const root = await tempDir();
  const importDir = path.join(root, 'import');
  await mkdir(importDir);
  const outside = path.join(root, 'secret.iso');
  await writeFile(outside, 'not for import');
  await link(outside, path.join(importDir, 'linked.iso'));
  await writeFile(path.join(importDir, 'plain.iso'), 'fine');
  const d = await boot({ iso: { import_dirs: [importDir] } });
  const c = await d.client();
  await c.call('events', 'subscribe', ['dispatcher']);
  const r = await fetchResult(c, `file://${importDir}/linked.iso`, 'linked.iso');
  assert.equal(r.result, 'failed');
  assert.match(r.error, /has 2 hard links: .* refused/);
  assert.equal((await fetchResult(c, `file://${importDir}/plain.iso`, 'plain.iso')).result, 'success');
  c.close();
});
