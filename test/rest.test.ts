import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { runHyved, startDaemon, type TestDaemon } from './helpers/daemon.js';

let d: TestDaemon;
let basic: string;

before(async () => {
  d = await startDaemon({ max_frame_bytes: 2048 });
  basic = 'Basic ' + Buffer.from(`admin:${d.adminPassword}`).toString('base64');
  const r = await runHyved(['user', 'add', 'plain', '--password-stdin', '--config', d.configFile], 'plain-pass-1');
  assert.equal(r.code, 0, r.stderr);
});
after(() => d.stop());

async function put(path: string, body: unknown, auth?: string) {
  const res = await fetch(d.url + path, {
    method: 'PUT',
    headers: { 'Content-Type': 'application/json', ...(auth ? { Authorization: auth } : {}) },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as { args: any }, headers: res.headers };
}

test('PUT /sysadm/nic with Basic credentials answers {"args":...} with status 200', async () => {
  const r = await put('/sysadm/nic', { action: 'list' }, basic);
  assert.equal(r.status, 200);
  assert.deepEqual(Object.keys(r.body), ['args']);
  assert.ok(Array.isArray(r.body.args.host_nics));
  assert.match(r.headers.get('content-type') ?? '', /application\/json/);
});

test('rpc/auth over REST gives a token that works as Bearer', async () => {
  const login = await put('/rpc/auth', { username: 'admin', password: d.adminPassword });
  assert.equal(login.status, 200);
  const [token, seconds] = login.body.args;
  assert.equal(seconds, 300);
  const r = await put('/sysadm/nic', { action: 'list' }, `Bearer ${token}`);
  assert.equal(r.status, 200);
  assert.equal((await put('/sysadm/nic', { action: 'list' }, 'Bearer not-a-token')).status, 401);
});

test('REST errors carry the code as HTTP status and {code,message,details} as args', async () => {
  const none = await put('/sysadm/nic', { action: 'list' });
  assert.equal(none.status, 401);
  assert.equal(none.body.args.code, 401);
  const bad = await put('/sysadm/nic', { action: 'list' }, 'Basic ' + Buffer.from('admin:wrong').toString('base64'));
  assert.equal(bad.status, 401);
  const plain = 'Basic ' + Buffer.from('plain:plain-pass-1').toString('base64');
  assert.equal((await put('/sysadm/nic', { action: 'list' }, plain)).status, 403);
  const unknown = await put('/sysadm/nic', { action: 'nope' }, basic);
  assert.equal(unknown.status, 400);
  assert.match(unknown.body.args.message, /unknown action 'nope'/);
  const schema = await put('/sysadm/nic', { action: 'list', extra: 1 }, basic);
  assert.equal(schema.status, 400);
  assert.deepEqual(schema.body.args.details.map((x: { path: string }) => x.path), ['/args/extra']);
  const malformed = await put('/sysadm/nic', '{"action":', basic);
  assert.equal(malformed.status, 400);
  assert.match(malformed.body.args.message, /malformed JSON/);
  const big = await put('/sysadm/nic', { action: 'list', pad: 'x'.repeat(4000) }, basic);
  assert.equal(big.status, 413);
  const cls = await put('/sysadm/nosuch', { action: 'list' }, basic);
  assert.equal(cls.status, 404);
  for (const method of ['GET', 'POST', 'DELETE', 'OPTIONS']) {
    assert.equal((await fetch(d.url + '/sysadm/nosuch', { method })).status, 404, `${method} of an unknown path`);
  }
  assert.equal((await put('/a/b/c', {}, basic)).status, 404);
  const get = await fetch(d.url + '/sysadm/nic');
  assert.equal(get.status, 405);
  assert.equal(get.headers.get('allow'), 'PUT, OPTIONS');
});

test('OPTIONS lists Allow and the action schemas of the class', async () => {
  const res = await fetch(d.url + '/sysadm/nic', { method: 'OPTIONS' });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('allow'), 'PUT, OPTIONS');
  const body = (await res.json()) as { args: { allow: string[]; actions: Record<string, { args: any; permission: string }> } };
  assert.deepEqual(body.args.allow, ['PUT', 'OPTIONS']);
  assert.equal(body.args.actions.list.permission, 'nic.list');
  assert.equal(body.args.actions.list.args.properties.action.const, 'list');
  assert.equal((await fetch(d.url + '/sysadm/nosuch', { method: 'OPTIONS' })).status, 404);
});

test('GET /healthz answers without authentication', async () => {
  const res = await fetch(d.url + '/healthz');
  assert.equal(res.status, 200);
  assert.equal(((await res.json()) as { status: string }).status, 'ok');
});

test('identify works over REST without credentials', async () => {
  const r = await put('/rpc/identify', {});
  assert.equal(r.status, 200);
  assert.equal(r.body.args.type, 'server');
});
