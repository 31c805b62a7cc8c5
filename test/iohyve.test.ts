import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { HyvedClient, CallError } from '../src/client/client.js';
import { RawSocket } from './helpers/raw.js';
import { startDaemon, type TestDaemon } from './helpers/daemon.js';
import { ROOT } from './helpers/daemon.js';
import { waitFor } from './helpers/wait.js';

let d: TestDaemon;
let c: HyvedClient;
const finished = new Map<string, { result: string; error?: string }>();

before(async () => {
  d = await startDaemon({ vm: { stop_timeout_s: 3 } });
  c = await d.client();
  c.on('event', (name: string, a: { process_id: string; state: string; result: string; error?: string }) => {
    if (name === 'dispatcher' && a.state === 'finished') finished.set(a.process_id, a);
  });
  await c.call('events', 'subscribe', ['dispatcher']);
});
after(async () => {
  c?.close();
  await d?.stop();
});

const iohyve = <T = any>(args: Record<string, unknown>) => c.call<T>('sysadm', 'iohyve', args);
const isoDir = () => path.join(d.stateDir, 'images', 'iso');

async function task(queued: Record<string, { queueid: string }>): Promise<{ result: string; error?: string }> {
  const id = Object.values(queued)[0].queueid;
  return waitFor(() => finished.get(id), `task ${id} to finish`, 30_000);
}

async function err(p: Promise<unknown>): Promise<CallError> {
  const e = await p.then(() => assert.fail('expected an error'), (x: unknown) => x);
  assert.ok(e instanceof CallError);
  return e;
}

async function virtualSize(file: string): Promise<number> {
  const { stdout } = await promisify(execFile)('qemu-img', ['info', '--output=json', '-U', file]);
  return JSON.parse(stdout)['virtual-size'];
}

/** The request examples of sysadm-iohyve.rst, as written there. */
function seedExamples(): { rest: Record<string, unknown>[]; ws: Record<string, unknown>[] } {
  return {
    rest: [
      { action: 'listvms' },
      { url: 'ftp://ftp.freebsd.org/pub/FreeBSD/releases/amd64/amd64/ISO-IMAGES/10.1/FreeBSD-10.1-RELEASE-amd64-disc1.iso', action: 'fetchiso' },
      { source: 'test.iso', target: '102.iso', action: 'renameiso' },
      { action: 'rmiso', target: 'FreeBSD-10.2-RELEASE-amd64-bootonly.iso' },
    ],
    ws: [
      { namespace: 'sysadm', args: { action: 'listvms' }, name: 'iohyve', id: 'fooid' },
      { namespace: 'sysadm', name: 'iohyve', args: { url: 'ftp://ftp.freebsd.org/pub/FreeBSD/releases/amd64/amd64/ISO-IMAGES/10.1/FreeBSD-10.1-RELEASE-amd64-disc1.iso', action: 'fetchiso' }, id: 'fooid' },
      { args: { target: '102.iso', source: 'test.iso', action: 'renameiso' }, id: 'fooid', name: 'iohyve', namespace: 'sysadm' },
      { id: 'fooid', name: 'iohyve', args: { target: 'FreeBSD-10.2-RELEASE-amd64-bootonly.iso', action: 'rmiso' }, namespace: 'sysadm' },
    ],
  };
}

function checkSeedReply(args: any, action: string): void {
  if (action === 'listvms') {
    for (const vm of Object.values(args.listvms) as any[]) assert.deepEqual(Object.keys(vm).sort(), ['description', 'rcboot', 'running', 'vmm']);
  } else if (action === 'fetchiso') {
    assert.match(args.fetchiso.command, /^iohyve fetch ftp:\/\/ftp\.freebsd\.org\//);
    assert.equal(args.fetchiso.comment, 'Task Queued');
    assert.equal(typeof args.fetchiso.queueid, 'string');
  } else if (action === 'renameiso') {
    assert.deepEqual(args, { renameiso: { source: 'test.iso', target: '102.iso' } });
  } else {
    assert.deepEqual(args, { rmiso: { target: 'FreeBSD-10.2-RELEASE-amd64-bootonly.iso' } });
  }
}

async function seedFiles(): Promise<void> {
  await writeFile(path.join(isoDir(), 'test.iso'), 'iso');
  await writeFile(path.join(isoDir(), 'FreeBSD-10.2-RELEASE-amd64-bootonly.iso'), 'iso');
  await iohyve({ action: 'rmiso', target: '102.iso' }).catch(() => {});
}

test('every request example of sysadm-iohyve.rst, sent as written over WebSocket, gets the documented shape', async () => {
  const seed = await readFile(path.join(ROOT, '..', 'shared', 'seeds', 'sysadm-iohyve.rst'), 'utf8').catch(() => '');
  if (seed) for (const a of ['listvms', 'fetchiso', 'renameiso', 'rmiso']) assert.ok(seed.includes(`"${a}"`), `seed mentions ${a}`);
  const s = await RawSocket.open(d.url);
  s.send(JSON.stringify({ namespace: 'rpc', name: 'auth', id: 'a', args: { username: 'admin', password: d.adminPassword } }));
  assert.equal((await s.next()).name, 'response');
  for (const req of seedExamples().ws) {
    if ((req.args as any).action === 'renameiso') await seedFiles();
    s.send(JSON.stringify(req));
    const reply = await s.next();
    assert.equal(reply.name, 'response', JSON.stringify(reply));
    assert.equal(reply.id, 'fooid');
    assert.equal(reply.namespace, 'sysadm');
    checkSeedReply(reply.args, (req.args as any).action);
    if ((req.args as any).action === 'fetchiso') {
      // No network here: the task must fail cleanly, with an error that says why.
      const done = await task(reply.args);
      assert.equal(done.result, 'failed');
      assert.ok(done.error);
    }
  }
  s.close();
});

test('the same examples over PUT /sysadm/iohyve', async () => {
  const auth = 'Basic ' + Buffer.from(`admin:${d.adminPassword}`).toString('base64');
  for (const body of seedExamples().rest) {
    if (body.action === 'renameiso') await seedFiles();
    const res = await fetch(`${d.url}/sysadm/iohyve`, { method: 'PUT', headers: { Authorization: auth, 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
    const json = (await res.json()) as { args: any };
    assert.equal(res.status, body.action === 'fetchiso' ? 202 : 200, JSON.stringify(json));
    assert.deepEqual(Object.keys(json), ['args']);
    checkSeedReply(json.args, body.action as string);
    if (body.action === 'fetchiso') await task(json.args);
  }
});

test('create → listvms NO → start → YES → stop → delete; one engine behind iohyve and vm', async () => {
  const queued = await iohyve({ action: 'create', name: 'testguest', size: '8G' });
  assert.equal(queued.create.comment, 'Task Queued');
  assert.equal((await task(queued)).result, 'success');
  let list = (await iohyve({ action: 'listvms' })).listvms;
  assert.deepEqual(list.testguest.running, 'NO');
  assert.deepEqual(list.testguest.vmm, 'NO');
  assert.deepEqual(list.testguest.rcboot, 'NO');
  assert.match(list.testguest.description, /^[A-Z][a-z]+ \d{1,2}, \d{4} at \d\d:\d\d:\d\d [AP]M \S+$/, 'the creation time, as sysadm showed it');
  assert.equal((await err(iohyve({ action: 'create', name: 'testguest', size: '1G' }))).code, 409);

  const vms = (await c.call<any>('sysadm', 'vm', { action: 'list', gid: 'default' })).vms;
  const mine = vms.find((v: any) => v.name === 'testguest');
  assert.equal(mine.state, 'STOPPED');
  assert.equal(mine.cpus, 1);
  assert.equal(mine.memory_mib, 512);

  assert.deepEqual(await iohyve({ action: 'start', name: 'testguest' }), { start: { name: 'testguest', state: 'RUNNING' } });
  list = (await iohyve({ action: 'listvms' })).listvms;
  assert.equal(list.testguest.running, 'YES');
  assert.equal(list.testguest.vmm, 'YES');
  await c.call('sysadm', 'vm', { action: 'state', vmid: mine.vmid, state: 'PAUSED' });
  list = (await iohyve({ action: 'listvms' })).listvms;
  assert.deepEqual([list.testguest.running, list.testguest.vmm], ['NO', 'YES'], 'paused: not running, still in the vmm');
  assert.equal((await c.call<any>('sysadm', 'vm', { action: 'state', vmid: mine.vmid })).state, 'PAUSED');

  const stopErr = await err(iohyve({ action: 'resizedisk', name: 'testguest', disk: 'disk0', size: '9G' }));
  assert.equal(stopErr.code, 409);
  assert.match(stopErr.message, /Please stop the guest first/);
  assert.equal((await err(iohyve({ action: 'delete', name: 'testguest' }))).code, 409);
  const t0 = Date.now();
  assert.deepEqual(await iohyve({ action: 'stop', name: 'testguest', force: 'true' }), { stop: { name: 'testguest', state: 'STOPPED' } });
  assert.ok(Date.now() - t0 < 2500, 'force "true" is an immediate power-off (no OS: a graceful stop would wait 3 s)');
  assert.deepEqual(await iohyve({ action: 'delete', name: 'testguest' }), { delete: { name: 'testguest' } });
  assert.equal((await iohyve({ action: 'listvms' })).listvms.testguest, undefined);
  const missing = await err(iohyve({ action: 'start', name: 'testguest' }));
  assert.equal(missing.code, 404);
  assert.match(missing.message, /No such guest/);
});

test('a VM made through vm create in the default group is listed by iohyve with the same state', async () => {
  const { vmid } = await c.call<{ vmid: string }>('sysadm', 'vm', { action: 'create', name: 'viavm', gid: 'default', type: 'BIOS', cpus: 1, memory_mib: 128, description: 'made by vm', autostart: true });
  const list = (await iohyve({ action: 'listvms' })).listvms;
  assert.deepEqual(list.viavm, { description: 'made by vm', rcboot: 'YES', running: 'NO', vmm: 'NO' });
  await c.call('sysadm', 'vm', { action: 'state', vmid, state: 'RUNNING' });
  assert.equal((await iohyve({ action: 'listvms' })).listvms.viavm.running, 'YES');
  await c.call('sysadm', 'vm', { action: 'delete', vmid, force: true });
});

test('adddisk, listdisks, resizedisk, deletedisk with sizes checked by qemu-img info', async () => {
  await task(await iohyve({ action: 'create', name: 'disky', size: '512M' }));
  const vmid = (await c.call<any>('sysadm', 'vm', { action: 'list', gid: 'default' })).vms.find((v: any) => v.name === 'disky').vmid;
  const disc = (label: string) => path.join(d.stateDir, 'discs', vmid, `${label}.qcow2`);
  assert.equal(await virtualSize(disc('disk0')), 512 * 1024 * 1024);
  assert.deepEqual(await iohyve({ action: 'adddisk', name: 'disky', size: '2G' }), { adddisk: { name: 'disky', disk: 'disk1', size: '2G' } });
  assert.equal(await virtualSize(disc('disk1')), 2 * 1024 ** 3);
  assert.deepEqual(await iohyve({ action: 'listdisks', name: 'disky' }), { listdisks: { disk0: '512M', disk1: '2G' } });
  assert.deepEqual(await iohyve({ action: 'resizedisk', name: 'disky', disk: 'disk1', size: '3G' }), { resizedisk: { name: 'disky', disk: 'disk1', size: '3G' } });
  assert.equal(await virtualSize(disc('disk1')), 3 * 1024 ** 3);
  assert.equal((await err(iohyve({ action: 'deletedisk', name: 'disky', disk: 'disk0' }))).code, 406);
  assert.deepEqual(await iohyve({ action: 'deletedisk', name: 'disky', disk: 'disk1' }), { deletedisk: { name: 'disky', disk: 'disk1' } });
  await assert.rejects(virtualSize(disc('disk1')));
  assert.deepEqual(await iohyve({ action: 'listdisks', name: 'disky' }), { listdisks: { disk0: '512M' } });
  assert.equal((await err(iohyve({ action: 'adddisk', name: 'disky', size: 'lots' }))).code, 400);
  assert.equal((await err(iohyve({ action: 'adddisk', name: 'disky', size: '1G', pool: 'nosuchpool' }))).code, 404);
  await iohyve({ action: 'delete', name: 'disky' });
});

test('getprops and setprop round trip; unknown properties are 400', async () => {
  await task(await iohyve({ action: 'create', name: 'propy', size: '1G' }));
  const before = (await iohyve({ action: 'getprops', name: 'propy' })).getprops;
  assert.equal(before.ram, '512M');
  assert.equal(before.cpu, '1');
  assert.equal(before.size, '1G');
  assert.equal(before.boot, '0');
  for (const key of ['name', 'ram', 'cpu', 'size', 'description', 'boot', 'os', 'loader', 'con', 'persist']) assert.equal(typeof before[key], 'string', key);
  await iohyve({ action: 'setprop', name: 'propy', ram: '1G', cpu: '2', description: 'web server', boot: '1' });
  const after = (await iohyve({ action: 'getprops', name: 'propy' })).getprops;
  assert.deepEqual([after.ram, after.cpu, after.description, after.boot], ['1G', '2', 'web server', '1']);
  assert.equal((await iohyve({ action: 'listvms' })).listvms.propy.rcboot, 'YES');
  const unknown = await err(iohyve({ action: 'setprop', name: 'propy', colour: 'blue' }));
  assert.equal(unknown.code, 400);
  assert.equal((unknown.details as { path: string }[])[0].path, '/args/colour');
  assert.equal((await err(iohyve({ action: 'setprop', name: 'propy', size: '9G' }))).code, 400, 'size is not writable');
  await iohyve({ action: 'delete', name: 'propy' });
});

test('install boots the guest with the ISO attached as a CD, as QEMU reports it', async () => {
  await writeFile(path.join(isoDir(), 'installer.iso'), Buffer.alloc(1024 * 1024));
  await task(await iohyve({ action: 'create', name: 'inst', size: '1G' }));
  const done = await task(await iohyve({ action: 'install', name: 'inst', iso: 'installer.iso' }));
  assert.equal(done.result, 'success', done.error);
  const vmid = (await c.call<any>('sysadm', 'vm', { action: 'list', gid: 'default' })).vms.find((v: any) => v.name === 'inst').vmid;
  const info = await c.call<any>('sysadm', 'vm', { action: 'info', vmid });
  assert.equal(info.state, 'RUNNING');
  const cd = info.block_devices.find((b: any) => b.file?.endsWith('/installer.iso'));
  assert.ok(cd, `query-block shows the ISO: ${JSON.stringify(info.block_devices)}`);
  assert.equal(cd.readonly, true);
  assert.equal((await err(iohyve({ action: 'rmiso', target: 'installer.iso' }))).code, 409);
  await iohyve({ action: 'stop', name: 'inst', force: 'true' });
  await iohyve({ action: 'delete', name: 'inst' });
});

test('issetup, setup and version', async () => {
  assert.deepEqual(await iohyve({ action: 'issetup' }), { issetup: { setup: 'true' } }, 'storage exists from the first start');
  assert.deepEqual(await iohyve({ action: 'setup' }), { setup: { pool: 'standard', nic: '' } });
  assert.deepEqual(await iohyve({ action: 'setup', pool: 'standard' }), { setup: { pool: 'standard', nic: '' } });
  assert.deepEqual(await iohyve({ action: 'issetup' }), { issetup: { setup: 'true' } });
  assert.equal((await err(iohyve({ action: 'setup', pool: '/etc' }))).code, 404);
  assert.equal((await err(iohyve({ action: 'setup', nic: 'nosuchnic' }))).code, 404);
  assert.match((await iohyve({ action: 'version' })).version.version, /^hyved \d+\.\d+\.\d+/);
});
