import { test } from 'node:test';
import assert from 'node:assert/strict';
import { stat, readFile, writeFile, rename } from 'node:fs/promises';
import path from 'node:path';
import { HyvedClient } from '../src/client/client.js';
import { runHyved, startDaemon, tempDir } from './helpers/daemon.js';
import { waitFor } from './helpers/wait.js';
import { setTimeout as sleep } from 'node:timers/promises';

test('first start creates admin with a random password, saved 0600, and prints it once', async () => {
  const d = await startDaemon();
  try {
    assert.match(d.output(), new RegExp(`Created user 'admin' with password: ${d.adminPassword}`));
    assert.equal((await stat(path.join(d.stateDir, 'admin-password'))).mode & 0o777, 0o600);
    assert.equal((await stat(path.join(d.stateDir, 'users.json'))).mode & 0o777, 0o600);
    assert.equal((await stat(d.stateDir)).mode & 0o777, 0o700);
    const users = await readFile(path.join(d.stateDir, 'users.json'), 'utf8');
    assert.ok(!users.includes(d.adminPassword), 'only a scrypt hash is stored');
    const log = await readFile(path.join(d.stateDir, 'hyved.log'), 'utf8');
    assert.ok(!log.includes(d.adminPassword), 'the password never reaches the log');
  } finally {
    await d.stop();
  }
  const again = await startDaemon({}, d.stateDir);
  await again.stop();
  assert.doesNotMatch(again.output(), /Created user/);
});

test('hyved user add/list/passwd/del, with grants per group and everywhere', async () => {
  const dir = await tempDir();
  const sd = ['--state-dir', dir];
  const add = await runHyved(['user', 'add', 'ops', '--perm', 'nic.list', '--group', 'lab', '--perm', 'vm.view', '--perm', 'vm.state', '--password-stdin', ...sd], 'ops-password-1\n');
  assert.equal(add.code, 0, add.stderr);
  const gen = await runHyved(['user', 'add', 'boss', '--admin', ...sd]);
  assert.equal(gen.code, 0);
  const generated = /with password: (\S+)/.exec(gen.stdout)![1];
  const list = await runHyved(['user', 'list', ...sd]);
  assert.match(list.stdout, /^ops\s+everywhere: nic.list; lab: vm.view,vm.state$/m);
  assert.match(list.stdout, /^boss \(admin\)$/m);
  assert.equal((await runHyved(['user', 'add', 'ops', '--password-stdin', ...sd], 'another-pass')).code, 2, 'duplicate');
  const badPerm = await runHyved(['user', 'add', 'x', '--perm', 'vm.fly', ...sd]);
  assert.equal(badPerm.code, 2);
  assert.match(badPerm.stderr, /unknown permission 'vm.fly'/);
  const badName = await runHyved(['user', 'add', '../etc', ...sd]);
  assert.equal(badName.code, 2);
  const short = await runHyved(['user', 'add', 'y', '--password-stdin', ...sd], 'short');
  assert.match(short.stderr, /at least 8/);

  // A running daemon sees user changes without a restart.
  const d = await startDaemon({}, dir);
  try {
    const c = await HyvedClient.connect(d.url);
    await c.login('ops', 'ops-password-1');
    await c.login('boss', generated);
    assert.equal((await runHyved(['user', 'passwd', 'ops', '--password-stdin', ...sd], 'ops-password-2')).code, 0);
    await assert.rejects(c.login('ops', 'ops-password-1'), (e: { code: number }) => e.code === 401);
    await c.login('ops', 'ops-password-2');
    assert.equal((await runHyved(['user', 'del', 'ops', ...sd])).code, 0);
    await assert.rejects(c.call('rpc', 'query', {}), (e: { code: number }) => e.code === 401, 'deleted user loses the session');
    c.close();
  } finally {
    await d.stop();
  }
});

test('a bad config is refused with the key that is wrong', async () => {
  const dir = await tempDir();
  const file = path.join(dir, 'bad.json');
  await writeFile(file, JSON.stringify({ listen: 'nowhere', token_timeout_s: -3, colour: 'red', blacklist: { auth_fail_limit: 'five' } }));
  const r = await runHyved(['serve', '--config', file, '--state-dir', dir]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /\/listen: must match pattern/);
  assert.match(r.stderr, /\/token_timeout_s: must be >= 1/);
  assert.match(r.stderr, /\/colour: is not a known field/);
  assert.match(r.stderr, /\/blacklist\/auth_fail_limit: must be integer/);
  await writeFile(file, '{ not json');
  const j = await runHyved(['serve', '--config', file]);
  assert.equal(j.code, 2);
  assert.match(j.stderr, /not valid JSON/);
  const missing = await runHyved(['serve', '--config', path.join(dir, 'nope.json')]);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /cannot read config/);
  const flag = await runHyved(['serve', '--listen', 'bad', '--state-dir', dir]);
  assert.equal(flag.code, 2);
  assert.match(flag.stderr, /\/listen/);
});

test('flags override the config file', async () => {
  const dir = await tempDir();
  const other = await tempDir();
  const d = await startDaemon({ listen: '127.0.0.1:1' }, dir);
  await d.stop();
  const file = path.join(dir, 'test-config.json');
  const { spawn } = await import('node:child_process');
  const proc = spawn(process.execPath, [path.resolve('dist/src/bin/hyved.js'), 'serve', '--config', file, '--listen', '127.0.0.1:0', '--state-dir', other]);
  let out = '';
  proc.stdout.on('data', (c) => (out += c));
  await waitFor(() => /listening on/.test(out), 'the daemon to listen', 15_000);
  const port = Number(/listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(out)?.[1]);
  assert.ok(port > 1, `--listen beat the config's port 1: ${out}`);
  assert.ok((await stat(path.join(other, 'users.json'))).isFile(), 'state went to --state-dir');
  proc.kill('SIGTERM');
  await new Promise((r) => proc.once('exit', r));
});

test('SIGTERM lets an in-flight request finish, then exits 0; SIGHUP reopens the log file', async () => {
  const d = await startDaemon();
  const log = path.join(d.stateDir, 'hyved.log');
  await rename(log, log + '.1');
  d.proc.kill('SIGHUP');
  await waitFor(() => stat(log).then(() => true, () => false), 'the log file to be reopened', 5000, 50);
  assert.match(await readFile(log, 'utf8'), /log file reopened/);
  const c = await HyvedClient.connect(d.url);
  // A password check takes tens of milliseconds of scrypt: still running when SIGTERM lands.
  const pending = c.call('rpc', 'auth', { username: 'admin', password: d.adminPassword });
  await sleep(5);
  const exit = d.stop('SIGTERM');
  const reply = await pending;
  assert.ok(Array.isArray(reply));
  assert.equal(await exit, 0);
  await assert.rejects(fetch(d.url + '/healthz'));
});
