import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { HyvedClient, CallError } from '../src/client/client.js';
import { RawSocket } from './helpers/raw.js';
import { runHyved, startDaemon, type TestDaemon } from './helpers/daemon.js';

let d: TestDaemon;

before(async () => {
  d = await startDaemon({ max_frame_bytes: 4096, groups: { lab: {} } });
  const add = await runHyved(['user', 'add', 'viewer', '--perm', 'nic.list', '--password-stdin', '--config', d.configFile], 'viewer-pass-1\n');
  assert.equal(add.code, 0, add.stderr);
  const none = await runHyved(['user', 'add', 'nobody', '--password-stdin', '--config', d.configFile], 'nobody-pass-1\n');
  assert.equal(none.code, 0, none.stderr);
  for (const [user, perms] of [['looker', ['vm.view']], ['driver', ['vm.view', 'vm.state']]] as const) {
    const perm = perms.flatMap((p) => ['--perm', p]);
    const r = await runHyved(['user', 'add', user, '--group', 'default', ...perm, '--password-stdin', '--config', d.configFile], `${user}-pass-1\n`);
    assert.equal(r.code, 0, r.stderr);
  }
});
after(() => d.stop());

async function rejects(p: Promise<unknown>, code: number, pattern?: RegExp): Promise<CallError> {
  const err = await p.then(
    () => assert.fail(`expected error ${code}`),
    (e: unknown) => e,
  );
  assert.ok(err instanceof CallError, String(err));
  assert.equal(err.code, code, err.message);
  if (pattern) assert.match(err.message, pattern);
  return err;
}

test('identify needs no authentication', async () => {
  const s = await RawSocket.open(d.url);
  const reply = await s.request('rpc', 'identify', {}, 'id-1');
  assert.deepEqual(Object.keys(reply).sort(), ['args', 'id', 'name', 'namespace']);
  assert.equal(reply.name, 'response');
  assert.equal(reply.id, 'id-1');
  assert.equal(reply.args.type, 'server');
  assert.equal(typeof reply.args.hostname, 'string');
  assert.match(reply.args.version, /^\d+\.\d+\.\d+/);
  s.close();
});

test('the sysadm client flow: auth, then a request; the second reply answers the request', async () => {
  const s = await RawSocket.open(d.url);
  s.send(JSON.stringify({ namespace: 'rpc', name: 'auth', id: 'login', args: { username: 'admin', password: d.adminPassword } }));
  s.send(JSON.stringify({ namespace: 'sysadm', name: 'nic', id: 'fooid', args: { action: 'list' } }));
  const first = await s.next();
  const second = await s.next();
  assert.equal(first.id, 'login');
  assert.equal(first.name, 'response');
  assert.equal(typeof first.args[0], 'string');
  assert.equal(first.args[1], 300);
  assert.equal(second.id, 'fooid');
  assert.equal(second.namespace, 'sysadm');
  assert.equal(second.name, 'response');
  assert.ok(Array.isArray(second.args.host_nics));
  s.close();
});

test('auth with a wrong password is 401 and leaves the connection signed out', async () => {
  const c = await HyvedClient.connect(d.url);
  await rejects(c.call('rpc', 'auth', { username: 'admin', password: 'wrong-password' }), 401);
  await rejects(c.call('rpc', 'auth', { username: 'ghost', password: 'whatever' }), 401);
  await rejects(c.call('sysadm', 'nic', { action: 'list' }), 401, /authenticate|auth/);
  c.close();
});

test('auth_token resumes a session on another connection; auth_clear ends it', async () => {
  const a = await HyvedClient.connect(d.url);
  const token = await a.login('admin', d.adminPassword);
  const b = await HyvedClient.connect(d.url);
  const resumed = await b.call<[string, number]>('rpc', 'auth_token', { token });
  assert.deepEqual(resumed, [token, 300]);
  await b.call('sysadm', 'nic', { action: 'list' });
  assert.deepEqual(await a.call('rpc', 'auth_clear', {}), { cleared: true });
  await rejects(a.call('sysadm', 'nic', { action: 'list' }), 401);
  await rejects(b.call('sysadm', 'nic', { action: 'list' }), 401, /expired/);
  const c = await HyvedClient.connect(d.url);
  await rejects(c.call('rpc', 'auth_token', { token }), 401);
  [a, b, c].forEach((x) => x.close());
});

test('query reports read and read/write per class for the caller', async () => {
  const admin = await d.client();
  const access = await admin.call<Record<string, string>>('rpc', 'query', {});
  assert.equal(access['sysadm/nic'], 'read');
  assert.equal(access['rpc/identify'], 'read');
  const nobody = await d.client('nobody', 'nobody-pass-1');
  const limited = await nobody.call<Record<string, string>>('rpc', 'query', {});
  assert.equal(limited['sysadm/nic'], undefined, 'no nic.list: no sysadm/nic');
  assert.equal(limited['rpc/query'], 'read');
  admin.close();
  nobody.close();
});

test("query: read or read/write follows the caller's permissions, and the router scopes them to the VM's group", async () => {
  const admin = await d.client();
  const looker = await d.client('looker', 'looker-pass-1');
  const driver = await d.client('driver', 'driver-pass-1');
  assert.equal((await admin.call<Record<string, string>>('rpc', 'query', {}))['sysadm/vm'], 'read/write');
  assert.equal((await looker.call<Record<string, string>>('rpc', 'query', {}))['sysadm/vm'], 'read', 'vm.view alone: read');
  assert.equal((await driver.call<Record<string, string>>('rpc', 'query', {}))['sysadm/vm'], 'read/write', 'vm.state: read/write');

  const vm = { action: 'create', gid: 'default', type: 'BIOS', cpus: 1, memory_mib: 64 };
  const { vmid: here } = await admin.call<{ vmid: string }>('sysadm', 'vm', { ...vm, name: 'scoped-here' });
  const { vmid: there } = await admin.call<{ vmid: string }>('sysadm', 'vm', { ...vm, name: 'scoped-there', gid: 'lab' });
  assert.deepEqual(await looker.call('sysadm', 'vm', { action: 'state', vmid: here }), { vmid: here, state: 'STOPPED' });
  await rejects(looker.call('sysadm', 'vm', { action: 'state', vmid: here, state: 'RUNNING' }), 403, /vm.state needed on group default/);
  await rejects(looker.call('sysadm', 'vm', { action: 'info', vmid: there }), 404, /no VM with vmid/);
  await rejects(driver.call('sysadm', 'vm', { action: 'state', vmid: there, state: 'STOPPED' }), 404, /no VM with vmid/);
  // A group one holds nothing on answers as a missing one: group names cannot be probed.
  await rejects(looker.call('sysadm', 'vm', { action: 'list', gid: 'lab' }), 404, /no group 'lab'/);
  await rejects(looker.call('sysadm', 'vm', { action: 'list', gid: 'nowhere' }), 404, /no group/);
  for (const vmid of [here, there]) await admin.call('sysadm', 'vm', { action: 'delete', vmid });
  for (const c of [admin, looker, driver]) c.close();
});

test('schema returns the args and result schemas of the actions the caller may call', async () => {
  const admin = await d.client();
  const all = await admin.call<Record<string, Record<string, { permission: string; args: any; result: any }>>>('rpc', 'schema', {});
  assert.equal(all['sysadm/nic'].list.permission, 'nic.list');
  assert.equal(all['sysadm/nic'].list.args.properties.action.const, 'list');
  assert.ok(all['sysadm/nic'].list.result.properties.host_nics);
  assert.ok(all['events/subscribe'].subscribe.args);
  const one = await admin.call<Record<string, unknown>>('rpc', 'schema', { namespace: 'sysadm', name: 'nic' });
  assert.deepEqual(Object.keys(one), ['sysadm/nic']);
  await rejects(admin.call('rpc', 'schema', { namespace: 'sysadm', name: 'nope' }), 404);
  const nobody = await d.client('nobody', 'nobody-pass-1');
  const theirs = await nobody.call<Record<string, unknown>>('rpc', 'schema', {});
  assert.equal(theirs['sysadm/nic'], undefined);
  admin.close();
  nobody.close();
});

test('seed-style sysadm/nic list, and 403 without nic.list', async () => {
  const viewer = await d.client('viewer', 'viewer-pass-1');
  const r = await viewer.call<{ host_nics: unknown[]; other_nics: { identifier: string; offered: boolean }[] }>('sysadm', 'nic', { action: 'list' });
  assert.ok(r.other_nics.some((n) => n.identifier === 'lo' && n.offered === false));
  const nobody = await d.client('nobody', 'nobody-pass-1');
  await rejects(nobody.call('sysadm', 'nic', { action: 'list' }), 403, /nic\.list/);
  viewer.close();
  nobody.close();
});

test('400 names what was unknown or invalid, with ajv details', async () => {
  const c = await d.client();
  await rejects(c.call('nosuch', 'nic', { action: 'list' }), 400, /unknown namespace 'nosuch'/);
  await rejects(c.call('sysadm', 'nosuch', { action: 'list' }), 400, /unknown class 'sysadm\/nosuch'/);
  await rejects(c.call('sysadm', 'nic', { action: 'frobnicate' }), 400, /unknown action 'frobnicate'/);
  await rejects(c.call('sysadm', 'nic', {}), 400, /args.action is required/);
  const e = await rejects(c.call('sysadm', 'nic', { action: 'list', colour: 'red' }), 400);
  assert.deepEqual(e.details, [{ path: '/args/colour', message: 'is not a known field', keyword: 'additionalProperties' }]);
  const e2 = await rejects(c.call('rpc', 'auth', { username: 7 }), 400);
  const paths = (e2.details as { path: string }[]).map((x) => x.path).sort();
  assert.deepEqual(paths, ['/args/password', '/args/username']);
  c.close();
});

test('413 for a frame over max_frame_bytes, and the connection stays usable', async () => {
  const s = await RawSocket.open(d.url);
  s.send(JSON.stringify({ namespace: 'rpc', name: 'identify', id: 'big', args: { pad: 'x'.repeat(5000) } }));
  const r = await s.next();
  assert.equal(r.name, 'error');
  assert.equal(r.args.code, 413);
  assert.equal((await s.request('rpc', 'identify', {}, 'after')).name, 'response');
  s.send('x'.repeat(4096 * 4 + 10));
  const closed = await s.waitClosed();
  assert.equal(closed.code, 1009);
});

test('every parseable request gets exactly one reply with its id, in any order of completion', async () => {
  const s = await RawSocket.open(d.url);
  const ids = Array.from({ length: 50 }, (_, i) => `p${i}`);
  for (const id of ids) s.send(JSON.stringify({ namespace: 'rpc', name: i(id) ? 'identify' : 'query', id, args: {} }));
  const got: string[] = [];
  for (const _ of ids) got.push(String((await s.next()).id));
  assert.deepEqual(got.sort(), [...ids].sort());
  await assert.rejects(s.next(300), /no frame/);
  s.close();
  function i(id: string) {
    return Number(id.slice(1)) % 2 === 0;
  }
});
