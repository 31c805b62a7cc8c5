import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { HyvedClient, CallError } from '../src/client/client.js';
import { runHyved, startDaemon, tempDir, type TestDaemon } from './helpers/daemon.js';
import { startIsoServer, type IsoServer } from './helpers/servers.js';
import { waitFor } from './helpers/wait.js';

// Grants per group must stop at the group: shared ISO store, tasks, names, media and quotas.

let d: TestDaemon;
let admin: HyvedClient;
let web: IsoServer;
let importDir: string;
const SHARED = Buffer.alloc(4096, 1);

const USERS: Record<string, string[]> = {
  isoa: ['--group', 'a', '--perm', 'iso.manage', '--perm', 'vm.view', '--perm', 'vm.create'],
  isoall: ['--perm', 'iso.manage', '--group', 'a', '--perm', 'vm.view'],
  tasker: ['--group', 'a', '--perm', 'task.view', '--perm', 'task.kill'],
  deftasks: ['--group', 'default', '--perm', 'task.view'],
  alltasks: ['--perm', 'task.view'],
};

const as = (name: string) => d.client(name, `${name}-pass-1`);

before(async () => {
  importDir = await tempDir('hyved-import-');
  await writeFile(path.join(importDir, 'fresh.iso'), Buffer.alloc(4096, 2));
  web = await startIsoServer();
  d = await startDaemon({
    groups: { a: {}, b: {}, q: { quota: { vms: 2, cpus: 3 } } },
    iso: { import_dirs: [importDir] },
    tasks: { concurrency: 1, history: 200 },
  });
  for (const [name, perms] of Object.entries(USERS)) {
    const r = await runHyved(['user', 'add', name, ...perms, '--password-stdin', '--config', d.configFile], `${name}-pass-1\n`);
    assert.equal(r.code, 0, r.stderr);
  }
  const isoDir = path.join(d.stateDir, 'images', 'iso');
  await mkdir(isoDir, { recursive: true });
  for (const f of ['shared.iso', 'other.iso', 'disk.img']) await writeFile(path.join(isoDir, f), SHARED);
  admin = await d.client();
  const media = [{ mid: 'shared.iso', mode: 'BLOCK', readonly: true }];
  await admin.call('sysadm', 'vm', { action: 'create', name: 'topsecret-b', gid: 'b', type: 'BIOS', cpus: 1, memory_mib: 64, media });
  await admin.call('sysadm', 'vm', { action: 'create', name: 'visible-a', gid: 'a', type: 'BIOS', cpus: 1, memory_mib: 64, media });
});
after(async () => {
  admin?.close();
  await d?.stop();
  await web?.close();
});

async function failure(p: Promise<unknown>): Promise<CallError> {
  const err = await p.then(
    () => assert.fail('expected the call to fail'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof CallError, String(err));
  return err;
}

const sharedBytes = () => readFile(path.join(d.stateDir, 'images', 'iso', 'shared.iso'));

test('7: iso.manage on one group does not reach the shared ISO store', async () => {
  const c = await as('isoa');
  const fetch = await failure(c.call('sysadm', 'iohyve', { action: 'fetchiso', url: `file://${importDir}/fresh.iso`, name: 'shared.iso', overwrite: true }));
  assert.equal(fetch.code, 403, fetch.message);
  assert.match(fetch.message, /iso\.manage needed globally/);
  const rename = await failure(c.call('sysadm', 'iohyve', { action: 'renameiso', source: 'other.iso', target: 'shared.iso', overwrite: true }));
  assert.equal(rename.code, 403, rename.message);
  assert.equal((await failure(c.call('sysadm', 'iohyve', { action: 'rmiso', target: 'other.iso' }))).code, 403);
  assert.deepEqual(await sharedBytes(), SHARED);
  c.close();
});

test('7, 9: overwriting an attached ISO is a 409 that names only VMs the caller can view', async () => {
  const c = await as('isoall');
  const attempts = [
    c.call('sysadm', 'iohyve', { action: 'fetchiso', url: `file://${importDir}/fresh.iso`, name: 'shared.iso', overwrite: true }),
    c.call('sysadm', 'iohyve', { action: 'renameiso', source: 'other.iso', target: 'shared.iso', overwrite: true }),
    c.call('sysadm', 'iohyve', { action: 'rmiso', target: 'shared.iso' }),
  ];
  for (const p of attempts) {
    const err = await failure(p);
    assert.equal(err.code, 409, err.message);
    assert.match(err.message, /attached to VM visible-a, 1 VM in groups you cannot view/);
    assert.doesNotMatch(err.message, /topsecret/);
  }
  assert.deepEqual(await sharedBytes(), SHARED);
  // The admin sees every VM, so is told both names.
  assert.match((await failure(admin.call('sysadm', 'iohyve', { action: 'rmiso', target: 'shared.iso' }))).message, /topsecret-b/);
  c.close();
});

test('8: tasks belong to a group; others see URLs without query, in lists, events and the log', async () => {
  const watchers = Object.fromEntries(await Promise.all(['tasker', 'deftasks', 'alltasks'].map(async (n) => [n, await as(n)] as const)));
  const seen: Record<string, Record<string, unknown>[]> = {};
  for (const [name, c] of Object.entries(watchers)) {
    seen[name] = [];
    c.on('event', (type: string, a: Record<string, unknown>) => type === 'dispatcher' && seen[name].push(a));
    await c.call('events', 'subscribe', ['dispatcher']);
  }
  const secretUrl = `${web.url}/slow.iso?signature=s3cr3t#frag`;
  const fetch = await admin.call<{ fetchiso: { queueid: string; command: string } }>('sysadm', 'iohyve', { action: 'fetchiso', url: secretUrl });
  assert.match(fetch.fetchiso.command, /signature=s3cr3t/, "the owner's own view keeps the URL");
  const create = await admin.call<{ create: { queueid: string } }>('sysadm', 'iohyve', { action: 'create', name: 'queued1', size: '16M' });
  const fetchId = fetch.fetchiso.queueid;
  const createId = create.create.queueid;
  type Jobs = { jobs: Record<string, Record<string, { commands: string[]; gid: string }>> };
  const ids = (r: Jobs) => Object.values(r.jobs).flatMap((q) => Object.keys(q)).sort();
  const list = (c: HyvedClient) => c.call<Jobs>('rpc', 'dispatcher', { action: 'list' });

  assert.deepEqual(ids(await list(watchers.tasker)), [], 'task.view on group a sees no task of default or of the store');
  const kill = await failure(watchers.tasker.call('rpc', 'dispatcher', { action: 'kill', job_id: createId }));
  assert.equal(kill.code, 404, 'task.kill on group a cannot cancel a task of default');
  assert.deepEqual(ids(await list(watchers.deftasks)), [createId], 'task.view on default sees its tasks, not the store fetch');
  const all = await list(watchers.alltasks);
  assert.deepEqual(ids(all), [createId, fetchId].sort());
  const seenCommand = all.jobs['sysadm/iohyve'][fetchId].commands[0];
  assert.equal(seenCommand, `iohyve fetch ${web.url}/slow.iso`);
  assert.equal(all.jobs['sysadm/iohyve'][fetchId].gid, '*');
  const own = await list(admin);
  assert.match(own.jobs['sysadm/iohyve'][fetchId].commands[0], /signature=s3cr3t/);

  assert.deepEqual(await admin.call('rpc', 'dispatcher', { action: 'kill', job_id: [createId, fetchId] }), { killed: { jobs: [createId, fetchId] } });
  await waitFor(() => seen.alltasks.some((e) => e.process_id === fetchId && e.state === 'finished'), 'the fetch to end', 20_000);
  await waitFor(() => seen.deftasks.some((e) => e.process_id === createId && e.state === 'finished'), 'the create to end', 20_000);
  assert.deepEqual(seen.tasker, [], 'no events of other groups');
  assert.ok(seen.deftasks.every((e) => e.process_id === createId), 'no store events without a global grant');
  assert.ok(seen.alltasks.length > 0);
  assert.doesNotMatch(JSON.stringify(seen.alltasks), /s3cr3t|frag/);
  await waitFor(async () => /task \S+fetchiso\S+ canceled/.test(await readFile(path.join(d.stateDir, 'hyved.log'), 'utf8')), 'the log line', 10_000);
  assert.doesNotMatch(await readFile(path.join(d.stateDir, 'hyved.log'), 'utf8'), /s3cr3t/);
  for (const c of Object.values(watchers)) c.close();
});

test('9: a group one holds nothing on answers as a missing group does', async () => {
  const c = await as('isoa');
  const answers = [];
  for (const gid of ['b', 'no-such-group']) {
    for (const args of [{ action: 'list', gid }, { action: 'create', gid, name: 'x', cpus: 1, memory_mib: 64 }]) {
      const err = await failure(c.call('sysadm', 'vm', args));
      answers.push({ code: err.code, reason: err.reason, message: err.message.replace(gid, 'G') });
    }
  }
  assert.equal(answers[0].code, 404);
  assert.deepEqual(answers.slice(0, 2), answers.slice(2));
  c.close();
});

test('10: store media are read-only to guests; readonly:false is refused naming the field', async () => {
  const bad = await failure(admin.call('sysadm', 'vm', { action: 'create', name: 'rw', gid: 'default', type: 'BIOS', cpus: 1, memory_mib: 64, media: [{ mid: 'disk.img', mode: 'BLOCK', readonly: false }] }));
  assert.equal(bad.code, 406, bad.message);
  assert.deepEqual((bad.details as { path: string }[]).map((x) => x.path), ['/args/media/0/readonly']);
  const { vmid } = await admin.call<{ vmid: string }>('sysadm', 'vm', { action: 'create', name: 'ro', gid: 'default', type: 'BIOS', cpus: 1, memory_mib: 64, media: [{ mid: 'disk.img', mode: 'BLOCK' }] });
  try {
    const info = await admin.call<{ media: { readonly: boolean }[] }>('sysadm', 'vm', { action: 'info', vmid });
    assert.equal(info.media[0].readonly, true);
    await admin.call('sysadm', 'vm', { action: 'state', vmid, state: 'RUNNING' });
    const log = await readFile(path.join(d.stateDir, 'vms', vmid, 'qemu.log'), 'utf8');
    assert.match(log, /id=media0,format=raw,readonly=on/);
  } finally {
    await admin.call('sysadm', 'vm', { action: 'delete', vmid, force: true });
  }
});

test('14: quota and unique names hold under parallel creates and updates', async () => {
  const create = (gid: string, name: string) =>
    admin.call<{ vmid: string }>('sysadm', 'vm', { action: 'create', name, gid, type: 'BIOS', cpus: 1, memory_mib: 16, discs: [{ label: 'disk0', size_mib: 1 }] });
  const quota = await Promise.allSettled(Array.from({ length: 20 }, (_, i) => create('q', `q${i}`)));
  const made = quota.filter((r) => r.status === 'fulfilled') as PromiseFulfilledResult<{ vmid: string }>[];
  assert.equal(made.length, 2, 'quota vms: 2');
  for (const r of quota) if (r.status === 'rejected') assert.equal((r.reason as CallError).reason, 'quota_exceeded');

  const dups = await Promise.allSettled(Array.from({ length: 20 }, () => create('a', 'dup')));
  assert.equal(dups.filter((r) => r.status === 'fulfilled').length, 1, 'one VM named dup');
  for (const r of dups) if (r.status === 'rejected') assert.equal((r.reason as CallError).code, 409);

  const updates = await Promise.allSettled(made.map((m) => admin.call('sysadm', 'vm', { action: 'update', vmid: m.value.vmid, cpus: 2 })));
  assert.equal(updates.filter((r) => r.status === 'fulfilled').length, 1, 'quota cpus: 3 leaves room for one more CPU');
  const { vms } = await admin.call<{ vms: { cpus: number }[] }>('sysadm', 'vm', { action: 'list', gid: 'q' });
  assert.equal(vms.reduce((n, v) => n + v.cpus, 0), 3);
});
