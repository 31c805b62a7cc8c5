import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { HyvedClient } from '../src/client/client.js';
import { runHyved, startDaemon, tempDir, type TestDaemon } from './helpers/daemon.js';
import { LOOPBACK, startIsoServer } from './helpers/servers.js';
import { waitFor } from './helpers/wait.js';

const daemons: TestDaemon[] = [];
after(async () => {
  await Promise.all(daemons.map((d) => d.stop('SIGKILL')));
});

async function boot(stateDir?: string): Promise<TestDaemon> {
  const d = await startDaemon({ iso: { allow_private: LOOPBACK } }, stateDir);
  daemons.push(d);
  return d;
}

/** Stops the daemon and waits for a clean exit, so nothing writes the state dir while a test edits it. */
async function shutdown(d: TestDaemon, c?: HyvedClient): Promise<void> {
  c?.close();
  assert.equal(await d.stop(), 0, d.output());
}

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** The quarantined copies of `file` beside it, with their contents. */
async function keptCopies(file: string): Promise<{ name: string; bytes: Buffer }[]> {
  const dir = path.dirname(file);
  const names = (await readdir(dir)).filter((n) => n.startsWith(`${path.basename(file)}.corrupt-`));
  return Promise.all(names.map(async (name) => ({ name, bytes: await readFile(path.join(dir, name)) })));
}

const code = (p: Promise<unknown>) => p.then(() => 0, (e: { code: number }) => e.code);

test('damaged vm.json files are moved aside with their bytes and bad field logged; the other VMs load', async () => {
  let d = await boot();
  const stateDir = d.stateDir;
  let c = await d.client();
  const vmids: Record<string, string> = {};
  for (const name of ['keep1', 'keep2', 'torn', 'badcpus', 'moved']) {
    vmids[name] = (await c.call<{ vmid: string }>('sysadm', 'vm', { action: 'create', name, gid: 'default', type: 'BIOS', cpus: 1, memory_mib: 64 })).vmid;
  }
  await shutdown(d, c);

  const defFile = (name: string) => path.join(stateDir, 'vms', vmids[name], 'vm.json');
  const damaged: Record<string, Buffer> = {};
  // A torn write (what a non-atomic writer leaves after a crash)...
  damaged.torn = (await readFile(defFile('torn'))).subarray(0, 40);
  // ...a field of the wrong type...
  const bad = JSON.parse(await readFile(defFile('badcpus'), 'utf8'));
  damaged.badcpus = Buffer.from(JSON.stringify({ ...bad, cpus: 'two' }, null, 2));
  // ...and a sound definition filed under another VM's directory.
  const moved = JSON.parse(await readFile(defFile('moved'), 'utf8'));
  damaged.moved = Buffer.from(JSON.stringify({ ...moved, vmid: vmids.keep1 }, null, 2));
  for (const [name, bytes] of Object.entries(damaged)) await writeFile(defFile(name), bytes);
  // Stands for a running QEMU's socket: not part of the record, so never moved.
  const sock = path.join(stateDir, 'vms', vmids.torn, 'qmp.sock');
  await writeFile(sock, 'socket');

  d = await boot(stateDir);
  c = await d.client();
  const list = await c.call<{ vms: { vmid: string; name: string }[] }>('sysadm', 'vm', { action: 'list', gid: 'default' });
  assert.deepEqual(list.vms.map((v) => [v.name, v.vmid]), [['keep1', vmids.keep1], ['keep2', vmids.keep2]]);

  const log = await waitFor(async () => {
    const text = await readFile(path.join(stateDir, 'hyved.log'), 'utf8');
    return text.includes('"started"') ? text : null;
  }, 'the log file');
  const expect: Record<string, string> = {
    torn: '\\(root\\): is not JSON: ',
    badcpus: '/cpus: must be integer',
    moved: `/vmid: is '${vmids.keep1}', not its directory's name '${vmids.moved}'`,
  };
  for (const [name, field] of Object.entries(expect)) {
    const line = new RegExp(`skipping VM definition ${escape(defFile(name))}: ${field}.*; the file is kept as ${escape(defFile(name))}\\.corrupt-`);
    assert.match(d.output(), line, `${name} on the console`);
    assert.match(log, line, `${name} in hyved.log`);
  }
  for (const [name, bytes] of Object.entries(damaged)) {
    const kept = await keptCopies(defFile(name));
    assert.equal(kept.length, 1, name);
    assert.ok(kept[0].bytes.equals(bytes), `${name}: the original bytes are kept`);
    await assert.rejects(stat(defFile(name)), `${name}: no vm.json left to load`);
  }
  assert.equal(await readFile(sock, 'utf8'), 'socket', "the VM directory's other files are left alone");

  // The daemon goes on serving and writing definitions.
  await c.call('sysadm', 'vm', { action: 'create', name: 'torn', gid: 'default', type: 'BIOS', cpus: 2, memory_mib: 64 });
  await shutdown(d, c);
  d = await boot(stateDir);
  c = await d.client();
  const names = (await c.call<{ vms: { name: string }[] }>('sysadm', 'vm', { action: 'list', gid: 'default' })).vms.map((v) => v.name);
  assert.deepEqual(names, ['keep1', 'keep2', 'torn']);
  assert.match(d.output(), new RegExp(`skipping VM definition ${escape(defFile('badcpus'))}: missing; the damaged one is kept as vm\\.json\\.corrupt-\\S+: repair it`));
  for (const [name, bytes] of Object.entries(damaged)) {
    const kept = await keptCopies(defFile(name));
    assert.ok(kept.length === 1 && kept[0].bytes.equals(bytes), `${name}: kept once, untouched by a restart`);
  }
  await shutdown(d, c);
});

test('a damaged user entry is skipped and its original kept; the others sign in; a later `user add` keeps the copy', async () => {
  const dir = await tempDir();
  const sd = ['--state-dir', dir];
  for (const name of ['alice', 'bob', 'carol']) {
    const r = await runHyved(['user', 'add', name, '--perm', 'vm.view', '--password-stdin', ...sd], `${name}-password`);
    assert.equal(r.code, 0, r.stderr);
  }
  const usersFile = path.join(dir, 'users.json');
  const file = JSON.parse(await readFile(usersFile, 'utf8'));
  file.users.bob.scrypt.N = 'lots';
  file.users.carol.perms['*'].push('vm.fly');
  const original = Buffer.from(JSON.stringify(file, null, 2));
  await writeFile(usersFile, original);

  const d = await boot(dir);
  const c = await HyvedClient.connect(d.url);
  await c.login('alice', 'alice-password');
  assert.equal(await code(c.login('bob', 'bob-password')), 401);
  assert.equal(await code(c.login('carol', 'carol-password')), 401);
  assert.match(d.output(), new RegExp(`${escape(usersFile)}: .*skipping user 'bob': /users/bob/scrypt/N: must be integer`));
  assert.match(d.output(), /skipping user 'carol': \/users\/carol\/perms\/\*\/1: 'vm.fly' is not a permission/);
  let kept = await keptCopies(usersFile);
  assert.equal(kept.length, 1);
  assert.ok(kept[0].bytes.equals(original), 'the whole original file is kept');
  assert.equal((await stat(path.join(dir, kept[0].name))).mode & 0o777, 0o600, 'the copy holds password hashes: 0600');
  assert.ok((await readFile(usersFile)).equals(original), 'reading alone rewrites nothing');

  // `hyved user add` rewrites users.json without bob and carol: their original stays in the one copy.
  const add = await runHyved(['user', 'add', 'dave', '--password-stdin', ...sd], 'dave-password');
  assert.equal(add.code, 0, add.stderr);
  assert.match(add.stderr, /skipping user 'bob'/, 'the command line says so too');
  kept = await keptCopies(usersFile);
  assert.equal(kept.length, 1, 'the same damage is not copied twice');
  assert.ok(kept[0].bytes.equals(original));
  assert.deepEqual(Object.keys(JSON.parse(await readFile(usersFile, 'utf8')).users).sort(), ['alice', 'dave']);
  await c.login('dave', 'dave-password');
  await c.login('alice', 'alice-password');
  await shutdown(d, c);
  assert.doesNotMatch(d.output(), /Created user 'admin'/, 'sound users left: no new admin');
});

test('an unreadable users.json is kept aside and left in place; the daemon makes no admin over it', async () => {
  const dir = await tempDir();
  const r = await runHyved(['user', 'add', 'alice', '--admin', '--password-stdin', '--state-dir', dir], 'alice-password');
  assert.equal(r.code, 0, r.stderr);
  const usersFile = path.join(dir, 'users.json');
  const original = (await readFile(usersFile)).subarray(0, 100);
  await writeFile(usersFile, original);

  const d = await boot(dir);
  assert.match(d.output(), new RegExp(`${escape(usersFile)}: unusable, no user in it can sign in: \\(root\\): is not JSON: `));
  assert.doesNotMatch(d.output(), /Created user 'admin'/);
  assert.match(d.output(), /holds no usable user: nobody can sign in/);
  assert.ok((await readFile(usersFile)).equals(original), 'users.json is not rewritten from a bad read');
  const c = await HyvedClient.connect(d.url);
  assert.equal(await code(c.login('alice', 'alice-password')), 401);
  const kept = await keptCopies(usersFile);
  assert.equal(kept.length, 1);
  assert.ok(kept[0].bytes.equals(original), 'the damaged original is kept');
  await shutdown(d, c);
});

test('damaged task records are moved aside and logged; the rest of the history loads', async (t) => {
  const web = await startIsoServer(64 * 1024);
  t.after(() => web.close());
  let d = await boot();
  const stateDir = d.stateDir;
  let c = await d.client();
  type Jobs = { jobs: Record<string, Record<string, { state: string; result?: string }>> };
  const history = async () => (await c.call<Jobs>('rpc', 'dispatcher', { action: 'list', history: true })).jobs['sysadm/iohyve'] ?? {};
  const ids: string[] = [];
  for (const name of ['a.iso', 'b.iso', 'c.iso']) {
    ids.push((await c.call<{ fetchiso: { queueid: string } }>('sysadm', 'iohyve', { action: 'fetchiso', url: `${web.url}/big.iso`, name })).fetchiso.queueid);
  }
  await waitFor(async () => {
    const h = await history();
    return ids.every((id) => h[id]?.result === 'success');
  }, 'three fetches');
  await shutdown(d, c);

  const taskFile = (id: string) => path.join(stateDir, 'tasks', `${id}.json`);
  const [torn, badField, good] = ids;
  const damaged: Record<string, Buffer> = {};
  damaged[torn] = (await readFile(taskFile(torn))).subarray(0, 50);
  const rec = JSON.parse(await readFile(taskFile(badField), 'utf8'));
  rec.progress.percent = 'half';
  damaged[badField] = Buffer.from(JSON.stringify(rec));
  for (const [id, bytes] of Object.entries(damaged)) await writeFile(taskFile(id), bytes);

  d = await boot(stateDir);
  c = await d.client();
  assert.deepEqual(Object.keys(await history()), [good]);
  assert.match(d.output(), new RegExp(`skipping task record ${escape(taskFile(torn))}: \\(root\\): is not JSON: .*kept as ${escape(taskFile(torn))}\\.corrupt-`));
  assert.match(d.output(), new RegExp(`skipping task record ${escape(taskFile(badField))}: /progress/percent: must be number,null`));
  for (const [id, bytes] of Object.entries(damaged)) {
    const kept = await keptCopies(taskFile(id));
    assert.ok(kept.length === 1 && kept[0].bytes.equals(bytes), `${id}: the original bytes are kept`);
  }
  await shutdown(d, c);
});
