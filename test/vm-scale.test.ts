import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { startDaemon, tempDir, type TestDaemon } from './helpers/daemon.js';
import type { CallError, HyvedClient } from '../src/client/client.js';

// The VM indexes (names, name order, usage) and list paging, through a real daemon.

const daemons: TestDaemon[] = [];
after(async () => {
  for (const d of daemons) {
    await d.stop();
    await rm(d.stateDir, { recursive: true, force: true });
  }
});

async function boot(config: Record<string, unknown> = {}, stateDir?: string): Promise<{ d: TestDaemon; c: HyvedClient }> {
  const d = await startDaemon(config, stateDir);
  daemons.push(d);
  return { d, c: await d.client() };
}

type ListReply = { vms: { vmid: string; name: string }[]; total?: number };

function failure(p: Promise<unknown>): Promise<CallError> {
  return p.then(
    () => assert.fail('succeeded'),
    (e: CallError) => e,
  );
}

const byLocale = (names: string[]) => [...names].sort((a, b) => a.localeCompare(b));

test('a name is refused while taken and free again after a delete or a failed create, whatever the sequence', async () => {
  const { d, c } = await boot({ storage_grades: { default: 'discs', broken: '/dev/null/discs' } });
  const create = (name: string, extra: Record<string, unknown> = {}) =>
    c.call<{ vmid: string }>('sysadm', 'vm', { action: 'create', name, gid: 'default', cpus: 1, memory_mib: 64, ...extra });
  const del = (vmid: string) => c.call('sysadm', 'vm', { action: 'delete', vmid });
  const names = async () => (await c.call<ListReply>('sysadm', 'vm', { action: 'list', gid: 'default' })).vms.map((v) => v.name);

  let { vmid } = await create('alpha');
  const taken = await failure(create('alpha'));
  assert.equal(taken.code, 409);
  assert.equal(taken.reason, 'name_taken');
  for (let round = 0; round < 3; round++) {
    await del(vmid);
    assert.deepEqual(await names(), []);
    ({ vmid } = await create('alpha'));
    assert.equal((await failure(create('alpha'))).code, 409, `round ${round}`);
  }
  // A create that fails after its name was checked (its disc cannot be made) rolls back and leaves the name free.
  const broken = await failure(create('beta', { discs: [{ label: 'd0', size_mib: 1, storage_grade: 'broken' }] }));
  assert.equal(broken.code, 500);
  assert.deepEqual(await names(), ['alpha']);
  await create('beta');
  assert.equal((await failure(create('beta'))).code, 409);
  // Refused before anything was made (unknown grade): the name was never taken.
  assert.equal((await failure(create('gamma', { discs: [{ label: 'd0', size_mib: 1, storage_grade: 'nosuch' }] }))).code, 404);
  await create('gamma');
  assert.deepEqual(await names(), ['alpha', 'beta', 'gamma']);
  // The iohyve face of the same index.
  assert.equal((await failure(c.call('sysadm', 'iohyve', { action: 'create', name: 'gamma', size: '1M' }))).code, 409);
  c.close();
  void d;
});

test('quota counts follow creates and deletes without a scan going wrong', async () => {
  const { c } = await boot({ groups: { small: { quota: { vms: 2, cpus: 3 } } } });
  const create = (name: string, cpus = 1) => c.call<{ vmid: string }>('sysadm', 'vm', { action: 'create', name, gid: 'small', cpus, memory_mib: 64 });
  const a = await create('a', 2);
  assert.equal((await failure(create('b', 2))).reason, 'quota_exceeded', 'cpus 4 > 3');
  await create('b', 1);
  assert.equal((await failure(create('c'))).reason, 'quota_exceeded', 'vms 3 > 2');
  await c.call('sysadm', 'vm', { action: 'delete', vmid: a.vmid });
  await create('c', 2);
  c.close();
});

test('10,000 definitions: paged lists are complete, sorted as localeCompare sorts, and the same after a restart', async () => {
  const stateDir = await tempDir();
  // Written straight to disk (creating 10,000 through the API takes half a minute): also the load path.
  const names: string[] = [];
  for (let i = 0; i < 10_000; i++) {
    // Mixed case, punctuation and digits, in no order: localeCompare's order is not the code units'.
    const name = `${['Web', 'db', 'edge', 'Edge_', 'cache', 'zeta.', 'Alpha'][i % 7]}-${(i * 7919) % 10_000}`;
    names.push(name);
    const vmid = `t${String(i).padStart(11, '0')}`;
    await mkdir(path.join(stateDir, 'vms', vmid), { recursive: true, mode: 0o700 });
    const def = { vmid, num: i + 1, name, gid: 'default', type: 'BIOS', cpus: 1, memory_mib: 64, displays: [], media: [], nics: [], discs: [], autostart: false, description: '', rosetta: false, created: '2026-12-02T00:00:00.000Z' };
    await writeFile(path.join(stateDir, 'vms', vmid, 'vm.json'), JSON.stringify(def));
  }
  let { d, c } = await boot({ validate_results: true }, stateDir);
  const list = (args: Record<string, unknown>) => c.call<ListReply>('sysadm', 'vm', { action: 'list', gid: 'default', ...args });

  const whole = await list({});
  assert.equal(whole.total, undefined, 'no paging asked: the reply the seed shows, without total');
  assert.deepEqual(whole.vms.map((v) => v.name), byLocale(names));

  const paged: ListReply['vms'] = [];
  for (let offset = 0; ; offset += 999) {
    const page = await list({ offset, limit: 999 });
    assert.equal(page.total, 10_000);
    if (page.vms.length === 0) break;
    assert.ok(page.vms.length <= 999);
    paged.push(...page.vms);
  }
  assert.deepEqual(paged, whole.vms, 'the pages, joined, are the whole list');

  // Edges: the last item, past the end, a limit alone, an offset alone.
  assert.deepEqual((await list({ offset: 9_999, limit: 5 })).vms, whole.vms.slice(9_999));
  assert.deepEqual(await list({ offset: 10_000 }), { vms: [], total: 10_000 });
  assert.deepEqual(await list({ offset: 123_456, limit: 1 }), { vms: [], total: 10_000 });
  assert.deepEqual((await list({ limit: 3 })).vms, whole.vms.slice(0, 3));
  assert.deepEqual((await list({ offset: 9_998 })).vms, whole.vms.slice(9_998));
  for (const [args, field] of [[{ offset: -1 }, 'offset'], [{ limit: 0 }, 'limit'], [{ offset: 1.5 }, 'offset'], [{ limit: 'ten' }, 'limit']] as const) {
    const err = await failure(list(args));
    assert.equal(err.code, 400, JSON.stringify(args));
    assert.ok((err.details as { path: string }[]).some((x) => x.path === `/args/${field}`), `${JSON.stringify(args)}: ${JSON.stringify(err.details)}`);
  }

  // A VM created now lands in its place in the order; a restart keeps the order.
  const { vmid } = await c.call<{ vmid: string }>('sysadm', 'vm', { action: 'create', name: 'edge-5000a', gid: 'default', cpus: 1, memory_mib: 64 });
  const after = (await list({})).vms;
  assert.deepEqual(after.map((v) => v.name), byLocale([...names, 'edge-5000a']));
  c.close();
  await d.stop();
  ({ d, c } = await boot({ validate_results: true }, stateDir));
  assert.deepEqual((await list({})).vms, after);
  await c.call('sysadm', 'vm', { action: 'delete', vmid });
  assert.deepEqual((await list({})).vms, whole.vms);

  // The other paged lists: iohyve's guests (the default group) and the task list.
  const iohyve = await c.call<{ listvms: Record<string, unknown>; total?: number }>('sysadm', 'iohyve', { action: 'listvms', offset: 10, limit: 20 });
  assert.equal(iohyve.total, 10_000);
  assert.deepEqual(Object.keys(iohyve.listvms), whole.vms.slice(10, 30).map((v) => v.name));
  assert.equal((await c.call<{ total?: number }>('sysadm', 'iohyve', { action: 'listvms' })).total, undefined);
  const tasks = await c.call<{ jobs: Record<string, unknown>; total?: number }>('rpc', 'dispatcher', { action: 'list', history: true, offset: 0, limit: 1 });
  assert.equal(tasks.total, 0);
  assert.deepEqual(tasks.jobs, {});
  assert.deepEqual(Object.keys(await c.call<object>('rpc', 'dispatcher', { action: 'list' })), ['jobs']);

  // Velocity's /v/vm/list as the seed sends it: the seed's shape, nothing added.
  const [authkey] = await c.call<[string, number]>('rpc', 'auth', { username: 'admin', password: d.adminPassword });
  const res = await fetch(`${d.url}/v/vm/list`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ authkey, gid: 'default' }) });
  const body = (await res.json()) as ListReply;
  assert.equal(res.status, 200);
  assert.deepEqual(Object.keys(body), ['vms']);
  assert.equal(body.vms.length, 10_000);
  c.close();
});
