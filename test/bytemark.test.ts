import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startDaemon, tempDir, type TestDaemon } from './helpers/daemon.js';
import { installDistribution } from './helpers/dist.js';
import { waitFor } from './helpers/wait.js';

let d: TestDaemon;
let token: string;
const made: string[] = [];

before(async () => {
  const stateDir = await tempDir();
  await installDistribution(stateDir, 'precise');
  d = await startDaemon({ storage_grades: { sata: 'discs', archive: 'archive' }, provision: { seed_detach_after_s: 3600 } }, stateDir);
  token = await (await d.client()).login('admin', d.adminPassword);
});
after(async () => {
  const c = await d.client();
  for (const vmid of made) await c.call('sysadm', 'vm', { action: 'delete', vmid, force: true }).catch(() => {});
  c.close();
  await d?.stop();
});

const http = () => d.url.replace(/^ws/, 'http');
const bearer = () => ({ Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' });

async function req(method: string, p: string, body?: unknown, headers: Record<string, string> = bearer()): Promise<{ status: number; json: any }> {
  const res = await fetch(`${http()}${p}`, { method, headers, ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }) });
  return { status: res.status, json: await res.json() };
}

// The seed's example request, byte for byte.
const SEED_BODY = '{"virtual_machine":{"name":"myserver1","cores":1,"memory":1024}, "discs":[{"label":"root","storage_grade":"sata","size":25600}], "reimage":{"distribution":"precise", "root_password":"mypassword"}}';

test('GET /definitions without sign-in: an array of {id, data} naming distributions with descriptions and storage grades', async () => {
  const { status, json } = await req('GET', '/definitions', undefined, {});
  assert.equal(status, 200);
  const byId = Object.fromEntries(json.map((x: { id: string; data: unknown }) => [x.id, x.data]));
  for (const id of ['distributions', 'storage_grades', 'hardware_profiles', 'distribution_descriptions', 'storage_grade_descriptions', 'zone_names', 'keymaps']) assert.ok(id in byId, id);
  assert.deepEqual(byId.distributions, ['precise']);
  assert.match(byId.distribution_descriptions.precise, /Test guest 'precise'/);
  assert.deepEqual(byId.storage_grades, ['sata', 'archive']);
  assert.ok(!JSON.stringify(json).includes(d.stateDir), 'no host paths');
});

test("the seed's vm_create as written: 202 in the seed's shape, then polling power_on turns true", async () => {
  const { status, json } = await req('POST', '/accounts/myaccountname/groups/default/vm_create', SEED_BODY);
  assert.equal(status, 202, JSON.stringify(json));
  const vm = json.virtual_machine;
  made.push(vm.vmid);
  for (const k of ['type', 'autoreboot_on', 'cdrom_url', 'cores', 'group_id', 'id', 'management_address', 'memory', 'name', 'power_on', 'keymap', 'deleted', 'hostname', 'head', 'hardware_profile', 'hardware_profile_locked']) assert.ok(k in vm, k);
  assert.equal(vm.type, 'application/vnd.bigv.virtual-machine');
  assert.equal(vm.name, 'myserver1');
  assert.equal(vm.cores, 1);
  assert.equal(vm.memory, 1024);
  assert.equal(vm.power_on, false);
  assert.ok(Number.isInteger(vm.id) && Number.isInteger(vm.group_id));
  assert.match(vm.hostname, /^myserver1\.default\.myaccountname\./);
  assert.equal(json.discs.length, 1);
  const disc = json.discs[0];
  assert.deepEqual({ ...disc, id: 0 }, { type: 'application/vnd.bigv.disc', id: 0, label: 'root', size: 25600, virtual_machine_id: vm.id, storage_pool: 'sata', storage_grade: 'sata' });
  assert.ok(Number.isInteger(disc.id));
  assert.deepEqual(json.reimage, { distribution: 'precise', root_password: 'mypassword' });
  const polled = await waitFor(async () => {
    const r = await req('GET', `/accounts/myaccountname/groups/default/virtual_machines/${vm.id}`);
    assert.equal(r.status, 200);
    return r.json.power_on ? r.json : null;
  }, 'power_on to turn true', 60_000, 250);
  // The VM object itself, not wrapped.
  assert.equal(polled.type, 'application/vnd.bigv.virtual-machine');
  assert.equal(polled.id, vm.id);
  assert.equal(polled.group_id, vm.group_id);
  // By name and through the group's numeric id too; the list holds it.
  assert.equal((await req('GET', `/accounts/x/groups/${vm.group_id}/virtual_machines/myserver1`)).json.id, vm.id);
  const list = await req('GET', '/accounts/myaccountname/groups/default/virtual_machines');
  assert.deepEqual(list.json.map((v: { id: number }) => v.id), [vm.id]);
});

test('Basic auth works; no credentials is 401; bad fields are 400 naming the Bytemark field', async () => {
  const basic = { Authorization: 'Basic ' + Buffer.from(`admin:${d.adminPassword}`).toString('base64'), 'Content-Type': 'application/json' };
  assert.equal((await req('GET', '/accounts/a/groups/default/virtual_machines', undefined, basic)).status, 200);
  assert.equal((await req('GET', '/accounts/a/groups/default/virtual_machines', undefined, {})).status, 401);
  const bad = await req('POST', '/accounts/a/groups/default/vm_create', { virtual_machine: { name: 'x', cores: 'two', memory: 256 } });
  assert.equal(bad.status, 400);
  assert.ok(bad.json.details.some((x: { path: string }) => x.path === '/virtual_machine/cores'), JSON.stringify(bad.json));
  const unknown = await req('POST', '/accounts/a/groups/default/vm_create', { virtual_machine: { name: 'x', cores: 1, memory: 256, colour: 'red' } });
  assert.equal(unknown.status, 400);
  assert.match(unknown.json.message, /virtual_machine\/colour/);
  assert.equal((await req('GET', '/accounts/a/groups/nosuch/virtual_machines')).status, 404);
  assert.equal((await req('GET', '/accounts/a/groups/default/virtual_machines/99999')).status, 404);
  const dup = await req('POST', '/accounts/a/groups/default/vm_create', SEED_BODY);
  assert.equal(dup.status, 409);
});
