import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { runHyved, startDaemon, type TestDaemon } from './helpers/daemon.js';

// The Velocity seed's requests, sent as the seed writes them: method, path, `authkey` in the body.
let d: TestDaemon;
let authkey: string;

before(async () => {
  d = await startDaemon({ groups: { lab: {} } });
  const c = await d.client();
  [authkey] = await c.call<[string, number]>('rpc', 'auth', { username: 'admin', password: d.adminPassword });
  c.close();
});
after(() => d.stop());

async function velocity(method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(d.url + path, {
    method,
    headers: { 'Content-Type': 'application/json', ...headers },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as any, allow: res.headers.get('allow') };
}

test('the seed walk-through: create an EFI VM, list it, read it and its state, a state request with no change', async () => {
  const created = await velocity('PUT', '/v/vm/efi', {
    authkey,
    name: 'seed-vm',
    gid: 'default',
    cpus: 1,
    memory_mib: 128,
    displays: [{ name: 'main', width: 1024, height: 768, ppi: 96 }],
    media: [],
    nics: [{ type: 'NAT' }],
    rosetta: false,
    autostart: false,
  });
  assert.equal(created.status, 200, JSON.stringify(created.body));
  const { vmid } = created.body;
  assert.equal(typeof vmid, 'string');
  assert.deepEqual(Object.keys(created.body), ['vmid']);

  const list = await velocity('POST', '/v/vm/list', { authkey, gid: 'default' });
  assert.equal(list.status, 200);
  assert.equal(list.body.vms.length, 1);
  const { actions, ...seedFields } = list.body.vms[0];
  assert.deepEqual(seedFields, { vmid, name: 'seed-vm', cpus: 1, memory_mib: 128, state: 'STOPPED' });
  assert.deepEqual(actions, ['start', 'delete'], "Deltacloud's actions ride along");

  const info = await velocity('POST', '/v/vm', { authkey, vmid });
  assert.equal(info.status, 200);
  assert.equal(info.body.type, 'EFI');
  assert.equal(info.body.name, 'seed-vm');
  assert.deepEqual(info.body.nics.map((n: { type: string }) => n.type), ['NAT']);

  assert.deepEqual((await velocity('POST', '/v/vm/state', { authkey, vmid })).body, { vmid, state: 'STOPPED' });
  const same = await velocity('PUT', '/v/vm/state', { authkey, vmid, state: 'STOPPED', force: true });
  assert.equal(same.status, 200);
  assert.deepEqual(same.body, { vmid, state: 'STOPPED' });

  const dup = await velocity('PUT', '/v/vm/efi', { authkey, name: 'seed-vm', gid: 'default', cpus: 1, memory_mib: 128 });
  assert.equal(dup.status, 409);
  assert.equal(dup.body.code, 409);
});

test('nic list with no body and an Authorization header; the seed error codes', async () => {
  const basic = 'Basic ' + Buffer.from(`admin:${d.adminPassword}`).toString('base64');
  const nics = await velocity('POST', '/v/nic/list', undefined, { Authorization: basic });
  assert.equal(nics.status, 200);
  assert.ok(Array.isArray(nics.body.host_nics));

  assert.equal((await velocity('POST', '/v/vm/list', { gid: 'default' })).status, 401, 'no authkey');
  assert.equal((await velocity('POST', '/v/vm/list', { authkey: 'forged', gid: 'default' })).status, 401);
  assert.equal((await velocity('POST', '/v/vm/list', { authkey, gid: 'nope' })).status, 404);
  assert.equal((await velocity('POST', '/v/vm/state', { authkey, vmid: 'zzzzzzzzzzzz' })).status, 404);
  const bad = await velocity('PUT', '/v/vm/state', { authkey, vmid: 'x', state: 'FLYING' });
  assert.equal(bad.status, 400);
  assert.ok(bad.body.details.some((x: { path: string }) => x.path === '/args/state'), JSON.stringify(bad.body));
});

test('method and body mistakes are 4xx naming what was wrong', async () => {
  const query = await velocity('POST', '/v/vm/state', { authkey, vmid: 'x', state: 'RUNNING' });
  assert.equal(query.status, 400, 'a POST never changes state');
  assert.match(query.body.message, /use PUT/);
  assert.equal((await velocity('PUT', '/v/vm/state', { authkey, vmid: 'x' })).status, 400);
  const wrong = await velocity('GET', '/v/vm/list');
  assert.equal(wrong.status, 405);
  assert.equal(wrong.allow, 'POST');
  assert.equal((await velocity('POST', '/v/vm/nothing', {})).status, 404);
  assert.equal((await velocity('POST', '/v/vm/list', '[1]')).status, 400);
  assert.equal((await velocity('POST', '/v/vm/list', '{"authkey":')).status, 400);
  const typed = await velocity('POST', '/v/vm/list', { authkey: 7, gid: 'default' });
  assert.equal(typed.status, 400);
  assert.equal(typed.body.details[0].path, '/authkey');
});

test("a missing permission answers the seed's code for each endpoint: list and efi 401, info 404, state 403", async () => {
  const users: [string, string[]][] = [['stranger', []], ['viewer', ['--group', 'default', '--perm', 'vm.view']], ['labrat', ['--group', 'lab', '--perm', 'vm.view', '--perm', 'vm.create']]];
  const keys: Record<string, string> = {};
  for (const [name, perms] of users) {
    const r = await runHyved(['user', 'add', name, ...perms, '--password-stdin', '--config', d.configFile], `${name}-password\n`);
    assert.equal(r.code, 0, r.stderr);
    const c = await d.client(name, `${name}-password`);
    [keys[name]] = await c.call<[string, number]>('rpc', 'auth', { username: name, password: `${name}-password` });
    c.close();
  }
  const { body: vm } = await velocity('PUT', '/v/vm/efi', { authkey, name: 'perm-vm', gid: 'default', cpus: 1, memory_mib: 64 });
  const codes = async (who: string) => ({
    list: (await velocity('POST', '/v/vm/list', { authkey: keys[who], gid: 'default' })).status,
    efi: (await velocity('PUT', '/v/vm/efi', { authkey: keys[who], name: `by-${who}`, gid: 'default', cpus: 1, memory_mib: 64 })).status,
    info: (await velocity('POST', '/v/vm', { authkey: keys[who], vmid: vm.vmid })).status,
    read: (await velocity('POST', '/v/vm/state', { authkey: keys[who], vmid: vm.vmid })).status,
    change: (await velocity('PUT', '/v/vm/state', { authkey: keys[who], vmid: vm.vmid, state: 'STOPPED' })).status,
  });
  assert.deepEqual(await codes('stranger'), { list: 401, efi: 401, info: 404, read: 403, change: 403 });
  assert.deepEqual(await codes('viewer'), { list: 200, efi: 401, info: 200, read: 200, change: 403 });
  // Permissions on another group only: this group and its VMs do not exist for them.
  assert.deepEqual(await codes('labrat'), { list: 404, efi: 404, info: 404, read: 404, change: 404 });
  // The sysadm API keeps hyved's own codes.
  const c = await d.client('stranger', 'stranger-password');
  await assert.rejects(c.call('sysadm', 'vm', { action: 'list', gid: 'default' }), (e: { code: number }) => e.code === 403);
  c.close();
});
