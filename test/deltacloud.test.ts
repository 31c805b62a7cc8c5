import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import http from 'node:http';
import { copyFile, mkdir, readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { DOMParser, type Document, type Element } from '@xmldom/xmldom';
import { VM_TRANSITIONS } from '../src/hypervisor/states.js';
import type { HyvedClient } from '../src/client/client.js';
import { runHyved, startDaemon, tempDir, type TestDaemon } from './helpers/daemon.js';
import { installDistribution } from './helpers/dist.js';
import { GUEST_DIR, MARKER, readConsoleUntil } from './helpers/guest.js';
import { waitFor } from './helpers/wait.js';

// Deltacloud's /api as its seed (seeds/deltacloud-instances.html), its server's code and its Ruby
// client (deltacloud-client: Faraday, `Accept: application/xml`, Basic auth, parameters in the
// query) send it, against a real daemon and a real guest. The Ruby client itself cannot run here
// (no Ruby gems offline): its requests are written out as it sends them.

let d: TestDaemon;
let c: HyvedClient;
let admin: string;
// Every event the admin's connection receives: no secret may be in one.
const events: unknown[] = [];
const basic = (user: string, password: string) => 'Basic ' + Buffer.from(`${user}:${password}`).toString('base64');
const USERS = { viewer: 'viewer-pass-1', labonly: 'labonly-pass-1' };

before(async () => {
  // The test distribution (test/helpers/dist.ts): its guest reads the cloud-init seed with
  // test/guest/boot.d/50-nocloud.sh and reports what it applied on its console.
  const stateDir = await tempDir();
  await installDistribution(stateDir, 'precise');
  d = await startDaemon({ groups: { lab: {} }, vm: { stop_timeout_s: 10 } }, stateDir);
  c = await d.client();
  c.on('event', (name: string, a: unknown) => events.push({ name, a }));
  await c.call('events', 'subscribe', ['dispatcher', 'vm', 'audit']);
  admin = basic('admin', d.adminPassword);
  // The guest's kernel as the image `tiny`: <name>-vmlinuz with <name>-initrd.gz beside it.
  const boot = path.join(d.stateDir, 'images', 'boot');
  await mkdir(boot, { recursive: true });
  await copyFile(path.join(GUEST_DIR, 'vmlinuz'), path.join(boot, 'tiny-vmlinuz'));
  await copyFile(path.join(GUEST_DIR, 'initrd.gz'), path.join(boot, 'tiny-initrd.gz'));
  // The same kernel with no initrd: it boots, finds no root and panics over and over, so no agent ever answers.
  await copyFile(path.join(GUEST_DIR, 'vmlinuz'), path.join(boot, 'noagent-vmlinuz'));
  const sd = ['--state-dir', d.stateDir];
  assert.equal((await runHyved(['user', 'add', 'viewer', '--perm', 'vm.view', '--password-stdin', ...sd], USERS.viewer + '\n')).code, 0);
  const lab = ['--group', 'lab', '--perm', 'vm.view', '--perm', 'vm.state', '--perm', 'vm.create'];
  assert.equal((await runHyved(['user', 'add', 'labonly', ...lab, '--password-stdin', ...sd], USERS.labonly + '\n')).code, 0);
});
after(async () => {
  c?.close();
  await d.stop();
});

interface Reply {
  status: number;
  headers: Headers;
  text: string;
  xml: Element | null;
  json: any;
}

function parseXml(text: string): Document {
  return new DOMParser({
    onError: (level: string, message: string) => {
      if (level !== 'warning') throw new Error(`bad XML (${message}):\n${text}`);
    },
  }).parseFromString(text, 'application/xml');
}

async function dc(
  method: string,
  p: string,
  opts: { auth?: string | null; accept?: string | null; body?: string | FormData; type?: string; headers?: Record<string, string> } = {},
): Promise<Reply> {
  const headers: Record<string, string> = { ...opts.headers };
  const auth = opts.auth === undefined ? admin : opts.auth;
  if (auth) headers.Authorization = auth;
  if (opts.accept !== null) headers.Accept = opts.accept ?? 'application/xml';
  if (opts.type) headers['Content-Type'] = opts.type;
  const res = await fetch(d.url + p, { method, headers, body: opts.body });
  const text = await res.text();
  const type = res.headers.get('content-type');
  return {
    status: res.status,
    headers: res.headers,
    text,
    xml: type === 'application/xml' ? (parseXml(text).documentElement as Element) : null,
    json: type === 'application/json' ? JSON.parse(text) : null,
  };
}

const kids = (e: Element, tag: string) => Array.from(e.childNodes).filter((n): n is Element => n.nodeType === 1 && (n as Element).tagName === tag);
const kid = (e: Element, tag: string) => {
  const found = kids(e, tag)[0];
  assert.ok(found, `<${e.tagName}> has no <${tag}>`);
  return found;
};
const textOf = (e: Element, tag: string) => kid(e, tag).textContent ?? '';
const childTags = (e: Element) => Array.from(e.childNodes).filter((n) => n.nodeType === 1).map((n) => (n as Element).tagName);
const form = (fields: Record<string, string>) => new URLSearchParams(fields).toString();
const FORM = 'application/x-www-form-urlencoded';

function assertAbsolute(href: string | null, endsWith: string): void {
  assert.ok(href !== null && href.startsWith(`${d.url}/api/`), `href ${href} is not absolute under ${d.url}/api`);
  assert.ok(href.endsWith(endsWith), `href ${href} does not end with ${endsWith}`);
}

/** The seed's instance shape, in Deltacloud's element order, with absolute links. */
function assertInstance(e: Element, id: string): void {
  assert.equal(e.tagName, 'instance');
  assert.equal(e.getAttribute('id'), id);
  assertAbsolute(e.getAttribute('href'), `/instances/${id}`);
  const order = ['name', 'owner_id', 'image', 'realm', 'state', 'hardware_profile', 'actions'];
  const tags = childTags(e);
  assert.deepEqual(tags.filter((t) => order.includes(t)), order, `element order: ${tags}`);
  for (const tag of ['public_addresses', 'private_addresses', 'storage_volumes']) assert.ok(tags.includes(tag), `no <${tag}>`);
  for (const tag of ['image', 'realm', 'hardware_profile']) {
    assert.equal(kids(e, tag).length, 1);
    assertAbsolute(kid(e, tag).getAttribute('href'), `/${kid(e, tag).getAttribute('id')}`);
  }
  assert.ok(['RUNNING', 'STOPPED', 'PENDING'].includes(textOf(e, 'state')), textOf(e, 'state'));
  for (const link of kids(kid(e, 'actions'), 'link')) {
    assert.ok(link.getAttribute('rel') && link.getAttribute('method'));
    assertAbsolute(link.getAttribute('href'), '');
  }
  if (textOf(e, 'state') !== 'STOPPED') {
    for (const tag of ['public_addresses', 'private_addresses']) {
      for (const a of kids(kid(e, tag), 'address')) {
        assert.ok(a.getAttribute('type'), `<${tag}><address> without type`);
        assert.notEqual(a.textContent, '');
      }
    }
  }
}

const rels = (e: Element) => kids(kid(e, 'actions'), 'link').map((l) => l.getAttribute('rel'));
const stateOf = async (id: string) => textOf((await dc('GET', `/api/instances/${id}`)).xml!, 'state');

test('the entry point and drivers answer without credentials, in XML and JSON, with absolute links and Deltacloud headers', async () => {
  for (const p of ['/api', '/api/']) {
    const r = await dc('GET', p, { auth: null, accept: null });
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('content-type'), 'application/xml');
    assert.match(r.headers.get('server') ?? '', /^Apache-Deltacloud\/\d/);
    assert.equal(r.headers.get('x-deltacloud-driver'), 'hyved');
    assert.ok(r.headers.get('etag'));
    assert.equal(r.xml!.tagName, 'api');
    assert.equal(r.xml!.getAttribute('driver'), 'hyved');
    assert.equal(r.xml!.getAttribute('version'), '1.1.4');
    const links = kids(r.xml!, 'link');
    for (const l of links) assertAbsolute(l.getAttribute('href'), `/${l.getAttribute('rel')}`);
    assert.deepEqual(links.map((l) => l.getAttribute('rel')).sort(), ['drivers', 'hardware_profiles', 'images', 'instance_states', 'instances', 'keys', 'realms']);
    const instances = links.find((l) => l.getAttribute('rel') === 'instances')!;
    assert.deepEqual(kids(instances, 'feature').map((f) => f.getAttribute('name')), ['user_name', 'authentication_key', 'authentication_password', 'user_data']);
    const keyFeature = kids(instances, 'feature').find((f) => f.getAttribute('name') === 'authentication_key')!;
    assert.equal(keyFeature.getAttribute('rel'), 'create');
    assert.equal(kid(keyFeature, 'param').getAttribute('name'), 'keyname');
  }
  const json = await dc('GET', '/api?format=json', { auth: null });
  assert.equal(json.headers.get('content-type'), 'application/json');
  assert.equal(json.json.api.driver, 'hyved');
  assert.ok(json.json.api.links.every((l: { href: string }) => l.href.startsWith(`${d.url}/api/`)));

  assert.equal((await dc('GET', '/api?force_auth=1', { auth: null })).status, 401, 'force_auth demands credentials');
  assert.equal((await dc('GET', '/api?force_auth=1')).status, 200);
  const options = await dc('OPTIONS', '/api', { auth: null });
  assert.equal(options.status, 200);
  assert.match(options.headers.get('allow') ?? '', /instances/);

  const drivers = await dc('GET', '/api/drivers', { auth: null });
  assert.equal(drivers.xml!.tagName, 'drivers');
  const drv = kid(drivers.xml!, 'driver');
  assert.equal(drv.getAttribute('id'), (await dc('GET', '/api', { auth: null })).xml!.getAttribute('driver'), 'the driver the entry point names');
  assertAbsolute(drv.getAttribute('href'), '/drivers/hyved');
  const show = await dc('GET', '/api/drivers/hyved', { auth: null });
  assert.equal(textOf(show.xml!, 'name'), textOf(drv, 'name'));
  assert.equal((await dc('GET', '/api/drivers/ec2', { auth: null })).status, 404);
  assert.equal((await dc('GET', '/api/drivers?format=json', { auth: null })).json.hyved.name, 'Hyved');

  // Links follow the Host the client used.
  // (fetch may not set Host: node:http may.)
  const hosted = await new Promise<string>((resolve, reject) => {
    http.get(`${d.url}/api`, { headers: { Host: 'cloud.example:3001' } }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve(body));
    }).on('error', reject);
  });
  const hostedLinks = kids(parseXml(hosted).documentElement as Element, 'link');
  assert.ok(hostedLinks.length > 0 && hostedLinks.every((l) => l.getAttribute('href')!.startsWith('http://cloud.example:3001/api/')), hosted);
});

test('content negotiation as rack_accept: ?format wins, then q-values; no Accept is XML; nothing served is 406', async () => {
  const cases: [string, string | null, string | null][] = [
    ['/api/realms', null, 'application/xml'],
    ['/api/realms', 'application/json', 'application/json'],
    ['/api/realms', 'text/xml', 'application/xml'],
    ['/api/realms?format=json', 'application/xml', 'application/json'],
    ['/api/realms?format=xml', 'application/json', 'application/xml'],
    ['/api/realms', '*/*; q=0.5, application/xml', 'application/xml'],
    ['/api/realms', 'application/xml;q=0.4, application/json;q=0.9', 'application/json'],
    ['/api/realms', 'application/json;q=0.2, application/xml', 'application/xml'],
    ['/api/realms', '*/*', 'application/xml'],
    ['/api/realms', 'image/png', null],
    ['/api/realms', 'application/json;q=0', null],
    ['/api/realms?format=html', 'application/xml', null],
    ['/api/realms?format=yaml', null, null],
  ];
  for (const [p, accept, type] of cases) {
    const r = await dc('GET', p, { accept });
    if (type === null) {
      assert.equal(r.status, 406, `${p} Accept ${accept}`);
      assert.equal(r.text, '');
    } else {
      assert.equal(r.status, 200, `${p} Accept ${accept}: ${r.text}`);
      assert.equal(r.headers.get('content-type'), type, `${p} Accept ${accept}`);
    }
  }
});

test('credentials: none or wrong is 401 in the Deltacloud error shape; a missing permission is 403', async () => {
  const none = await dc('GET', '/api/instances', { auth: null });
  assert.equal(none.status, 401);
  assert.match(none.headers.get('www-authenticate') ?? '', /^Basic realm=/);
  assert.equal(none.xml!.tagName, 'error');
  assert.equal(none.xml!.getAttribute('status'), '401');
  assert.equal(textOf(none.xml!, 'code'), '401');
  assert.equal(kid(none.xml!, 'backend').getAttribute('driver'), 'hyved');
  const wrong = await dc('GET', '/api/instances?format=json', { auth: basic('admin', 'not-the-password') });
  assert.equal(wrong.status, 401);
  assert.deepEqual(Object.keys(wrong.json).slice(0, 3), ['code', 'message', 'error']);
  assert.equal(wrong.json.error, 'Deltacloud::Exceptions::AuthenticationFailure');
  for (const p of ['/api/realms', '/api/hardware_profiles', '/api/images', '/api/keys']) assert.equal((await dc('GET', p, { auth: null })).status, 401, p);
  // Clients probe without credentials: that never counts towards the blacklist (5 failures block the address).
  for (let i = 0; i < 6; i++) assert.equal((await dc('GET', '/api/instances', { auth: null })).status, 401);
  assert.equal((await dc('GET', '/api/instances')).status, 200, 'not blocked by requests without credentials');
  // A form a foreign web page posts is refused before sign-in, in Deltacloud's shape.
  const foreign = await dc('POST', '/api/instances', { body: form({ image_id: 'tiny' }), type: FORM, headers: { Origin: 'http://evil.example' } });
  assert.equal(foreign.status, 403);
  assert.equal(textOf(foreign.xml!, 'code'), '403');
  assert.equal((await dc('GET', '/api/instance_states', { auth: null })).status, 200, 'the state graph is public, as the entry point');
  // viewer may look but not create.
  const create = await dc('POST', '/api/instances', { auth: basic('viewer', USERS.viewer), body: form({ image_id: 'tiny' }), type: FORM });
  assert.equal(create.status, 403, create.text);
  assert.equal(textOf(create.xml!, 'code'), '403');
});

test('hardware profiles: fixed, range and enum properties with units; realms: this host', async () => {
  const list = await dc('GET', '/api/hardware_profiles');
  assert.equal(list.xml!.tagName, 'hardware_profiles');
  assert.ok(list.headers.get('etag'));
  const profiles = kids(list.xml!, 'hardware_profile');
  assert.deepEqual(profiles.map((p) => p.getAttribute('id')), ['small', 'medium', 'large', 'xlarge', 'custom']);
  for (const p of profiles) {
    assertAbsolute(p.getAttribute('href'), `/${p.getAttribute('id')}`);
    const show = await dc('GET', `/api/hardware_profiles/${p.getAttribute('id')}`);
    assert.equal(textOf(show.xml!, 'name'), textOf(p, 'name'));
  }
  const custom = profiles.find((p) => p.getAttribute('id') === 'custom')!;
  const props = Object.fromEntries(kids(custom, 'property').map((p) => [p.getAttribute('name'), p]));
  assert.equal(props.cpu.getAttribute('kind'), 'enum');
  assert.equal(props.cpu.getAttribute('unit'), 'count');
  assert.deepEqual(kids(kid(props.cpu, 'enum'), 'entry').map((e) => e.getAttribute('value')), ['1', '2', '4', '8', '16']);
  assert.equal(props.memory.getAttribute('kind'), 'range');
  assert.equal(props.memory.getAttribute('unit'), 'MB');
  assert.equal(kid(props.memory, 'range').getAttribute('first'), '128');
  assert.equal(kid(props.memory, 'param').getAttribute('name'), 'hwp_memory');
  assert.equal(props.storage.getAttribute('unit'), 'GB');
  assert.equal(props.architecture.getAttribute('kind'), 'fixed');
  assert.equal(props.architecture.getAttribute('value'), 'x86_64');
  const small = await dc('GET', '/api/hardware_profiles/small?format=json');
  assert.deepEqual(
    small.json.hardware_profile.properties.filter((p: { kind: string }) => p.kind === 'fixed').map((p: { name: string; value: unknown; unit: string }) => [p.name, p.value, p.unit]),
    [['cpu', 1, 'count'], ['memory', 512, 'MB'], ['architecture', 'x86_64', 'label']],
  );
  assert.equal((await dc('GET', '/api/hardware_profiles/huge')).status, 404);

  const realms = await dc('GET', '/api/realms');
  const [realm] = kids(realms.xml!, 'realm');
  assert.equal(kids(realms.xml!, 'realm').length, 1);
  assert.match(realm.getAttribute('id')!, /^[A-Za-z0-9_.-]+$/);
  const show = await dc('GET', `/api/realms/${realm.getAttribute('id')}`);
  assert.equal(textOf(show.xml!, 'name'), textOf(realm, 'name'));
  assert.equal(textOf(show.xml!, 'state'), 'AVAILABLE');
  assert.equal((await dc('GET', '/api/realms/elsewhere')).status, 404);
  assert.equal((await dc('GET', '/api/realms?format=json')).json.realms[0].id, realm.getAttribute('id'));
});

test('images: the distributions and the direct-boot kernels in images/boot, with the fields clients read, and exact filters', async () => {
  const list = await dc('GET', '/api/images');
  assert.equal(list.xml!.tagName, 'images');
  assert.deepEqual(kids(list.xml!, 'image').map((i) => i.getAttribute('id')), ['precise', 'noagent', 'tiny']);
  const byId = (id: string) => kids(list.xml!, 'image').find((i) => i.getAttribute('id') === id)!;
  // The distribution: name, description with its OS, owner, architecture, state, profiles, create link.
  const dist = byId('precise');
  assertAbsolute(dist.getAttribute('href'), '/images/precise');
  assert.equal(textOf(dist, 'name'), 'precise');
  assert.match(textOf(dist, 'description'), /^Test guest 'precise' .*\(linux distribution, provisioned by cloud-init\)$/);
  for (const tag of ['owner_id', 'architecture', 'state', 'root_type']) assert.equal(textOf(dist, tag), textOf(byId('tiny'), tag), tag);
  assert.ok(kids(kid(dist, 'hardware_profiles'), 'hardware_profile').length >= 1);
  assert.equal(kids(kid(dist, 'actions'), 'link')[0].getAttribute('href'), `${d.url}/api/instances;image_id=precise`);
  const distJson = (await dc('GET', '/api/images/precise?format=json')).json.image;
  assert.deepEqual([distJson.id, distJson.name, distJson.architecture, distJson.owner, distJson.state], ['precise', 'precise', 'x86_64', 'hyved', 'AVAILABLE']);
  assert.equal(distJson.description, textOf(dist, 'description'));
  const img = byId('tiny');
  assertAbsolute(img.getAttribute('href'), '/images/tiny');
  for (const tag of ['name', 'description', 'owner_id', 'architecture', 'state', 'creation_time', 'root_type']) assert.ok(textOf(img, tag), tag);
  assert.equal(textOf(img, 'architecture'), 'x86_64');
  assert.ok(kids(kid(img, 'hardware_profiles'), 'hardware_profile').length >= 1);
  const create = kids(kid(img, 'actions'), 'link').find((l) => l.getAttribute('rel') === 'create_instance')!;
  assert.equal(create.getAttribute('href'), `${d.url}/api/instances;image_id=tiny`);
  const show = await dc('GET', '/api/images/tiny');
  assert.equal(textOf(show.xml!, 'name'), textOf(img, 'name'));
  assert.equal(kids((await dc('GET', `/api/images?owner_id=${textOf(img, 'owner_id')}`)).xml!, 'image').length, 3);
  assert.equal(kids((await dc('GET', '/api/images?owner_id=someone')).xml!, 'image').length, 0);
  assert.equal(kids((await dc('GET', '/api/images?architecture=x86_64')).xml!, 'image').length, 3);
  assert.equal(kids((await dc('GET', '/api/images?id=tiny')).xml!, 'image').length, 1);
  assert.equal(kids((await dc('GET', '/api/images?architecture=x86')).xml!, 'image').length, 0);
  assert.deepEqual((await dc('GET', '/api/images?format=json')).json.images.map((i: { id: string }) => i.id), ['precise', 'noagent', 'tiny']);
  assert.match(textOf(byId('noagent'), 'description'), /noagent-vmlinuz$/, 'a kernel without initrd');
  const missing = await dc('GET', '/api/images/nope?format=json');
  assert.equal(missing.status, 404);
  assert.equal(missing.json.error, 'Deltacloud::Exceptions::ObjectNotFound');
});

test('instance_states is generated from the engine state table', async () => {
  const r = await dc('GET', '/api/instance_states');
  assert.equal(r.xml!.tagName, 'states');
  const graph: Record<string, string[]> = {};
  for (const s of kids(r.xml!, 'state')) {
    graph[s.getAttribute('name')!] = kids(s, 'transition').map((t) => `${t.getAttribute('action') ?? 'auto'}->${t.getAttribute('to')}`);
  }
  assert.deepEqual(graph, {
    start: ['create->pending'],
    pending: ['auto->running', 'auto->stopped'],
    running: ['stop->stopped', 'reboot->running', 'auto->stopped'],
    stopped: ['start->pending', 'destroy->finish', 'stop->stopped'],
    finish: [],
  });
  // Every action a client can take in hyved (but pause, which Deltacloud has no name for) is in the graph.
  const names: Record<string, string> = { start: 'start', resume: 'start', stop: 'stop', reboot: 'reboot', delete: 'destroy' };
  for (const t of VM_TRANSITIONS.filter((x) => x.action && x.action !== 'pause')) {
    assert.ok(Object.values(graph).flat().some((e) => e.startsWith(`${names[t.action!]}->`)), `${t.from} --${t.action}--> ${t.to}`);
  }
  const json = await dc('GET', '/api/instance_states?format=json');
  assert.deepEqual(json.json[0], { name: 'start', transitions: [{ to: 'pending', action: 'create' }] });
});

function sshPublicKey(comment: string): string {
  const { publicKey } = generateKeyPairSync('ed25519');
  const raw = publicKey.export({ format: 'der', type: 'spki' }).subarray(-32);
  const str = (b: Buffer) => Buffer.concat([Buffer.from([0, 0, 0, b.length]), b]);
  return `ssh-ed25519 ${Buffer.concat([str(Buffer.from('ssh-ed25519')), str(raw)]).toString('base64')} ${comment}`;
}

test('keys: create (as the Ruby client sends it, and multipart), list, show, delete; bad keys and names', async () => {
  const pub = sshPublicKey('me@host');
  const made = await dc('POST', `/api/keys?${form({ name: 'mykey', public_key: pub })}`);
  assert.equal(made.status, 201, made.text);
  assert.equal(made.headers.get('location'), `${d.url}/api/keys/mykey`);
  assert.equal(made.xml!.getAttribute('id'), 'mykey');
  assert.match(textOf(made.xml!, 'fingerprint'), /^([0-9a-f]{2}:){15}[0-9a-f]{2}$/);
  const fd = new FormData();
  fd.set('name', 'second');
  fd.set('public_key', sshPublicKey('other'));
  assert.equal((await dc('POST', '/api/keys', { body: fd })).status, 201);
  const list = await dc('GET', '/api/keys');
  assert.deepEqual(kids(list.xml!, 'key').map((k) => textOf(k, 'name')), ['mykey', 'second']);
  assert.equal(textOf((await dc('GET', '/api/keys/mykey')).xml!, 'public_key'), pub);
  const json = await dc('GET', '/api/keys?format=json');
  assert.deepEqual(json.json.keys.map((k: { id: string; href: string }) => [k.id, k.href]), [['mykey', `${d.url}/api/keys/mykey`], ['second', `${d.url}/api/keys/second`]]);
  assert.equal((await dc('GET', '/api/keys/mykey?format=json')).json.key.public_key, pub);
  assert.equal((await dc('POST', '/api/keys', { body: form({ name: 'mykey', public_key: pub }), type: FORM })).status, 409);
  const bad = await dc('POST', '/api/keys?format=json', { body: form({ name: 'k3', public_key: 'ssh-rsa !!!' }), type: FORM });
  assert.equal(bad.status, 400);
  assert.match(bad.json.message, /public_key/);
  assert.equal((await dc('POST', '/api/keys', { body: form({ name: '../x', public_key: pub }), type: FORM })).status, 400);
  // Another user's keys are theirs.
  assert.equal(kids((await dc('GET', '/api/keys', { auth: basic('viewer', USERS.viewer) })).xml!, 'key').length, 0);
  assert.equal((await dc('DELETE', '/api/keys/second')).status, 204);
  assert.equal((await dc('POST', '/api/keys/second', { body: form({ _method: 'delete' }), type: FORM })).status, 404);
  assert.equal((await dc('GET', '/api/keys/second')).status, 404);
});

test('bad create input: missing image_id, unknown image/profile/realm/key, values out of range, user_data, names, malformed multipart', async () => {
  const create = (fields: Record<string, string>) => dc('POST', '/api/instances?format=json', { body: form(fields), type: FORM });
  const missing = await create({ hwp_id: 'small' });
  assert.equal(missing.status, 400);
  assert.match(missing.json.message, /image_id/);
  for (const [fields, word] of [
    [{ image_id: 'nope' }, 'image'],
    [{ image_id: 'tiny', hwp_id: 'huge' }, 'hardware profile'],
    [{ image_id: 'tiny', realm_id: 'mars' }, 'realm'],
    [{ image_id: 'tiny', keyname: 'nokey' }, 'key'],
  ] as const) {
    const r = await create(fields);
    assert.equal(r.status, 404, JSON.stringify(fields));
    assert.match(r.json.message, new RegExp(word));
  }
  const range = await create({ image_id: 'tiny', hwp_id: 'custom', hwp_memory: '64' });
  assert.equal(range.status, 400);
  assert.match(range.json.message, /hwp_memory/);
  const cpu = await create({ image_id: 'tiny', hwp_id: 'custom', hwp_cpu: '3' });
  assert.equal(cpu.status, 400);
  assert.match(cpu.json.message, /hwp_cpu/);
  assert.equal((await dc('POST', '/api/keys', { body: form({ name: 'badkey', public_key: sshPublicKey('bad@host') }), type: FORM })).status, 201);
  // user_data: not base64, too big once decoded, not text; the guest setup fields on an image without a seed.
  for (const [fields, field] of [
    [{ image_id: 'precise', user_data: 'not base64!!' }, 'user_data'],
    [{ image_id: 'precise', user_data: Buffer.alloc(16385, 'a').toString('base64') }, 'user_data'],
    [{ image_id: 'precise', user_data: Buffer.from([0xff, 0xfe, 0x00]).toString('base64') }, 'user_data'],
    [{ image_id: 'precise', password: 'p'.repeat(257) }, 'password'],
    [{ image_id: 'tiny', user_data: Buffer.from('#!/bin/sh\n').toString('base64') }, 'user_data'],
    [{ image_id: 'tiny', password: 'secret' }, 'password'],
    [{ image_id: 'noagent', keyname: 'badkey' }, 'keyname'],
  ] as const) {
    const r = await create(fields);
    assert.equal(r.status, 400, `${JSON.stringify(fields).slice(0, 80)}: ${r.text}`);
    assert.equal(r.json.error, 'Deltacloud::Exceptions::ValidationFailure');
    assert.match(r.json.message, new RegExp(`^${field}: `));
  }
  // XML-special characters are refused by the name rule, and the error document stays well-formed.
  const odd = await dc('POST', '/api/instances', { body: form({ image_id: 'tiny', name: `a<b>&"c'` }), type: FORM });
  assert.equal(odd.status, 400);
  assert.match(textOf(odd.xml!, 'message'), /name/);
  const broken = await dc('POST', '/api/instances', { body: '--xyz\r\nContent-Disposition: form-data; name="image_id"\r\n\r\ntiny', type: 'multipart/form-data; boundary=xyz' });
  assert.equal(broken.status, 400, broken.text);
  assert.equal((await dc('POST', '/api/instances', { body: 'x', type: 'multipart/form-data' })).status, 400, 'no boundary');
  assert.equal((await dc('POST', '/api/instances', { body: 'image_id=tiny', type: 'text/plain' })).status, 415);
  const json = await dc('POST', '/api/instances?format=json', { body: JSON.stringify({ image_id: 'nope', hwp_id: 'small' }), type: 'application/json' });
  assert.equal(json.status, 404, 'JSON parameters are read');
  assert.equal((await dc('POST', '/api/instances', { body: JSON.stringify({ image_id: { x: 1 } }), type: 'application/json' })).status, 400);
  assert.equal((await dc('POST', '/api/instances', { body: form({ image_id: 'tiny', name: 'x'.repeat(2 << 20) }), type: FORM })).status, 413);
  assert.equal((await dc('GET', '/api/instances?format=json')).json.instances.length, 0, 'nothing was created');
  assert.equal((await dc('DELETE', '/api/keys/badkey')).status, 204);
});

test('the seed walk-through on a real guest: create (form), list, show, run (multipart, through the agent), reboot, stop, then start/stop/destroy as the Ruby client sends them; 405 for what the state does not allow', async () => {
  // POST /api/instances?format=xml, form-urlencoded image_id, hwp_id, name (the Rackspace example).
  const created = await dc('POST', '/api/instances?format=xml', { accept: '*/*', body: 'image_id=tiny&hwp_id=small&name=myserver', type: FORM });
  assert.equal(created.status, 201, created.text);
  const id = created.xml!.getAttribute('id')!;
  assert.match(id, /^[A-Za-z0-9_.-]+$/);
  assert.equal(created.headers.get('location'), `${d.url}/api/instances/${id}`);
  assertInstance(created.xml!, id);
  assert.equal(textOf(created.xml!, 'name'), 'myserver');
  assert.equal(textOf(created.xml!, 'state'), 'PENDING');
  assert.equal(kid(created.xml!, 'image').getAttribute('id'), 'tiny');
  assert.equal(kid(created.xml!, 'hardware_profile').getAttribute('id'), 'small');
  await waitFor(async () => (await stateOf(id)) === 'RUNNING', 'the new instance to run', 30_000, 200);
  await readConsoleUntil(path.join(d.stateDir, 'vms', id, 'console.sock'), new RegExp(MARKER), 60_000);

  // GET /api/instances?format=xml and /api/instances/:id?format=xml, as the seed sends them.
  const list = await dc('GET', '/api/instances?format=xml', { accept: '*/*' });
  assert.equal(list.xml!.tagName, 'instances');
  assert.ok(list.headers.get('etag'));
  const [inList] = kids(list.xml!, 'instance');
  assertInstance(inList, id);
  const show = await dc('GET', `/api/instances/${id}?format=xml`, { accept: '*/*' });
  assertInstance(show.xml!, id);
  assert.equal(textOf(show.xml!, 'owner_id'), textOf(inList, 'owner_id'));
  assert.equal(textOf(show.xml!, 'name'), textOf(inList, 'name'));
  assert.deepEqual(rels(show.xml!), ['stop', 'reboot', 'run']);
  assert.equal(kids(kid(show.xml!, 'actions'), 'link')[2].getAttribute('href'), `${d.url}/api/instances/${id}/run;id=${id}`);
  assert.ok(kids(kid(show.xml!, 'public_addresses'), 'address').length > 0);
  assert.ok(kids(kid(show.xml!, 'private_addresses'), 'address').length > 0);
  assert.ok(textOf(show.xml!, 'launch_time'));
  const json = await dc('GET', `/api/instances/${id}?format=json`);
  assert.equal(json.headers.get('content-type'), 'application/json');
  assert.equal(json.json.instance.id, id);
  assert.equal(json.json.instance.state, 'RUNNING');
  assert.deepEqual(json.json.instance.actions.map((a: { rel: string }) => a.rel), ['stop', 'reboot', 'run']);
  for (const [q, n] of [['state=RUNNING', 1], ['state=STOPPED', 0], [`id=${id}`, 1], ['id=zzz', 0], [`realm_id=${kid(show.xml!, 'realm').getAttribute('id')}`, 1]] as const) {
    assert.equal(kids((await dc('GET', `/api/instances?${q}`)).xml!, 'instance').length, n, q);
  }

  // Not allowed while running: 405 in Deltacloud's shape (start, destroy by DELETE, by POST and by _method).
  for (const [method, p, body] of [
    ['POST', `/api/instances/${id}/start`, undefined],
    ['DELETE', `/api/instances/${id}`, undefined],
    ['POST', `/api/instances/${id}/destroy`, undefined],
    ['POST', `/api/instances/${id}`, form({ _method: 'delete' })],
  ] as const) {
    const r = await dc(method, p, { body, type: body ? FORM : undefined });
    assert.equal(r.status, 405, `${method} ${p}: ${r.text}`);
    assert.equal(textOf(r.xml!, 'code'), '405');
  }
  // A user without vm.state is refused; one who cannot see the group does not see the instance.
  assert.equal((await dc('POST', `/api/instances/${id}/stop`, { auth: basic('viewer', USERS.viewer) })).status, 403);
  const lab = basic('labonly', USERS.labonly);
  assert.equal(kids((await dc('GET', '/api/instances', { auth: lab })).xml!, 'instance').length, 0);
  assert.equal((await dc('GET', `/api/instances/${id}`, { auth: lab })).status, 404);
  assert.equal((await dc('POST', `/api/instances/${id}/stop`, { auth: lab })).status, 404);

  // Run-on-instance through the guest agent: the seed's multipart requests (Rackspace: a password;
  // EC2: a private key, on the `run;id=ID` link), answered in Deltacloud's run shape.
  const seedRun = (fields: Record<string, string>, p = `/api/instances/${id}/run?format=xml`, auth?: string) => {
    const fd = new FormData();
    for (const [k, v] of Object.entries(fields)) fd.set(k, v);
    return dc('POST', p, { accept: '*/*', body: fd, auth });
  };
  const ran = await waitFor(async () => {
    const r = await seedRun({ cmd: 'uname -a; ls -l', password: 'myserverqB2Uwk21I' });
    return r.status === 502 ? null : r;
  }, 'the guest agent to answer', 60_000, 500);
  assert.equal(ran.status, 200, ran.text);
  assert.equal(ran.xml!.tagName, 'instance');
  assert.equal(ran.xml!.getAttribute('id'), id);
  assertAbsolute(ran.xml!.getAttribute('href'), `/instances/${id}`);
  assert.deepEqual(childTags(ran.xml!).slice(0, 3), ['public_address', 'command', 'output']);
  assert.ok(textOf(ran.xml!, 'public_address'));
  assert.equal(textOf(ran.xml!, 'command'), 'uname -a; ls -l');
  assert.match(textOf(ran.xml!, 'output'), /^Linux \S+ \d+\.\d+/, 'the guest kernel answers uname -a');
  assert.equal(textOf(ran.xml!, 'exit_code'), '0');
  const key = '-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA4t3R\n-----END RSA PRIVATE KEY-----';
  const ec2 = await seedRun({ cmd: 'echo $((6*7)) && echo oops >&2 && exit 3', private_key: key }, `/api/instances/${id}/run;id=${id}?format=json`);
  assert.equal(ec2.status, 200, ec2.text);
  assert.deepEqual(
    { ...ec2.json.instance, public_address: undefined },
    { id, public_address: undefined, command: 'echo $((6*7)) && echo oops >&2 && exit 3', output: '42\n', stderr: 'oops\n', exit_code: 3, timed_out: false, truncated: false },
  );
  const started = Date.now();
  const slow = await seedRun({ cmd: 'sleep 600', timeout_s: '2' });
  assert.equal(slow.status, 504, slow.text);
  assert.ok(Date.now() - started < 10_000, `a 2 s limit answered after ${Date.now() - started} ms`);
  const ps = await seedRun({ cmd: 'ps' });
  assert.doesNotMatch(textOf(ps.xml!, 'output'), /sleep 600/, 'the timed-out command is gone from the guest');
  assert.equal((await seedRun({})).status, 400, 'cmd is required');
  const huge = await seedRun({ cmd: 'x'.repeat(70_000) });
  assert.equal(huge.status, 400, 'a command longer than the run action allows');
  assert.equal((await seedRun({ cmd: 'true' }, undefined, basic('viewer', USERS.viewer))).status, 403, 'run needs vm.run');
  assert.equal((await seedRun({ cmd: 'true' }, '/api/instances/zzzzzzzzzzzz/run')).status, 404);

  // POST .../reboot?format=xml and .../stop?format=xml (the seed): 202 and the instance.
  const reboot = await dc('POST', `/api/instances/${id}/reboot?format=xml`, { accept: '*/*' });
  assert.equal(reboot.status, 202, reboot.text);
  assertInstance(reboot.xml!, id);
  await readConsoleUntil(path.join(d.stateDir, 'vms', id, 'console.sock'), new RegExp(MARKER), 60_000);
  const stop = await dc('POST', `/api/instances/${id}/stop?format=xml`, { accept: '*/*' });
  assert.equal(stop.status, 202, stop.text);
  assertInstance(stop.xml!, id);
  await waitFor(async () => (await stateOf(id)) === 'STOPPED', 'the instance to stop', 30_000, 200);
  const stopped = await dc('GET', `/api/instances/${id}`);
  assert.deepEqual(rels(stopped.xml!), ['start', 'destroy', 'run']);
  assert.equal(kids(kid(stopped.xml!, 'public_addresses'), 'address').length, 0);
  assert.equal((await dc('POST', `/api/instances/${id}/stop`)).status, 405);
  assert.equal((await dc('POST', `/api/instances/${id}/reboot`)).status, 405);
  const offRun = await dc('POST', `/api/instances/${id}/run?format=json`, { body: form({ cmd: 'true' }), type: FORM });
  assert.equal(offRun.status, 409, 'a stopped instance has no agent to run on');
  assert.equal(offRun.json.error, 'Deltacloud::Exceptions::Conflict');

  // The Ruby client: Accept: application/xml, POST with no body, DELETE; its JSON twin answers the bare instance.
  const start = await dc('POST', `/api/instances/${id}/start?format=json`);
  assert.equal(start.status, 202, start.text);
  assert.equal(start.json.id, id);
  assert.ok(['PENDING', 'RUNNING'].includes(start.json.state));
  await waitFor(async () => (await stateOf(id)) === 'RUNNING', 'the restart', 30_000, 200);
  await readConsoleUntil(path.join(d.stateDir, 'vms', id, 'console.sock'), new RegExp(MARKER), 60_000);
  assert.equal((await dc('POST', `/api/instances/${id}/stop`)).status, 202);
  await waitFor(async () => (await stateOf(id)) === 'STOPPED', 'the second stop', 30_000, 200);
  const destroyed = await dc('DELETE', `/api/instances/${id}`);
  assert.equal(destroyed.status, 204);
  assert.equal(destroyed.text, '');
  assert.equal((await dc('GET', `/api/instances/${id}`)).status, 404);
  assert.equal((await dc('GET', `/api/instances/${id}?format=json`)).json.code, 404);
});

test('multipart create with hwp_* overrides, the create_instance link (matrix image_id), stop and POST .../destroy', async () => {
  const fd = new FormData();
  fd.set('hwp_id', 'custom');
  fd.set('hwp_memory', '192');
  fd.set('hwp_cpu', '2');
  fd.set('name', 'multi');
  // An empty password is what an HTML form sends for none: not a guest setup request.
  fd.set('password', '');
  // The image's create_instance link carries image_id as a matrix parameter.
  const created = await dc('POST', '/api/instances;image_id=tiny?format=json', { body: fd });
  assert.equal(created.status, 201, created.text);
  const inst = created.json.instance;
  assert.equal(inst.state, 'PENDING');
  assert.equal(inst.name, 'multi');
  assert.equal(inst.image.id, 'tiny');
  assert.deepEqual(inst.hardware_profile, { id: 'custom', href: `${d.url}/api/hardware_profiles/custom`, rel: 'hardware_profile', properties: { cpu: 2, memory: 192 } });
  const xml = await dc('GET', `/api/instances/${inst.id}`);
  const props = kids(kid(xml.xml!, 'hardware_profile'), 'property').map((p) => [p.getAttribute('name'), p.getAttribute('value'), p.getAttribute('unit')]);
  assert.deepEqual(props, [['cpu', '2', 'count'], ['memory', '192', 'MB']]);
  await waitFor(async () => (await stateOf(inst.id)) === 'RUNNING', 'the multipart instance to run', 30_000, 200);
  await readConsoleUntil(path.join(d.stateDir, 'vms', inst.id, 'console.sock'), new RegExp(MARKER), 60_000);
  assert.equal((await dc('POST', `/api/instances/${inst.id}/stop`)).status, 202);
  await waitFor(async () => (await stateOf(inst.id)) === 'STOPPED', 'the stop', 30_000, 200);
  assert.equal((await dc('POST', `/api/instances/${inst.id}/destroy`)).status, 204);
  assert.equal((await dc('GET', '/api/instances?format=json')).json.instances.length, 0);
});

test('run on a guest whose agent never answers: 502 in Deltacloud shape within the time limit; the list is not held up', async () => {
  const created = await dc('POST', '/api/instances?format=json', { body: form({ image_id: 'noagent', hwp_id: 'custom', hwp_memory: '128' }), type: FORM });
  assert.equal(created.status, 201, created.text);
  const id = created.json.instance.id;
  await waitFor(async () => (await stateOf(id)) === 'RUNNING', 'the agentless instance to run', 30_000, 200);
  const started = Date.now();
  const run = await dc('POST', `/api/instances/${id}/run?format=json`, { body: form({ cmd: 'uname -a', timeout_s: '3' }), type: FORM });
  assert.equal(run.status, 502, run.text);
  assert.equal(run.json.error, 'Deltacloud::Exceptions::ProviderError');
  assert.match(run.json.message, /agent/);
  assert.ok(Date.now() - started < 15_000, `502 after ${Date.now() - started} ms`);
  const listed = Date.now();
  assert.equal((await dc('GET', '/api/instances')).status, 200);
  assert.ok(Date.now() - listed < 5_000, `the list took ${Date.now() - listed} ms`);
  // No ACPI handling without an init: the stop ends in the power-off after vm.stop_timeout_s.
  assert.equal((await dc('POST', `/api/instances/${id}/stop`)).status, 202);
  await waitFor(async () => (await stateOf(id)) === 'STOPPED', 'the forced stop', 40_000, 250);
  assert.equal((await dc('DELETE', `/api/instances/${id}`)).status, 204);
});

test('unknown paths and methods: 404 and 405 in the Deltacloud shape', async () => {
  const unknown = await dc('GET', '/api/storage_volumes');
  assert.equal(unknown.status, 404);
  assert.equal(unknown.xml!.tagName, 'error');
  assert.equal((await dc('GET', '/api/instances/zzzzzzzzzzzz')).status, 404);
  assert.equal((await dc('GET', '/api/instances/not-an-id')).status, 404);
  assert.equal((await dc('POST', '/api/instances/zzzzzzzzzzzz/fly')).status, 404);
  const method = await dc('PUT', '/api/realms');
  assert.equal(method.status, 405);
  assert.equal(method.headers.get('allow'), 'GET');
});

test('a distribution image with keyname, password and user_data, form-urlencoded as the Ruby client sends them: the real guest gets the key, the password hash and runs the script; no secret in logs, tasks or events', async () => {
  const pub = sshPublicKey('prov@host');
  assert.equal((await dc('POST', `/api/keys?${form({ name: 'provkey', public_key: pub })}`)).status, 201);
  const PASSWORD = 'dc-root-pw-7f3e91';
  const SCRIPT = '#!/bin/sh\n# dc-firstboot-secret-51d0\necho HYVED-DC-USERDATA ran as $(id -u) on $(hostname)\n';
  // Ruby's Base64.encode64: lines of 60 characters.
  const userData = Buffer.from(SCRIPT).toString('base64').replace(/.{60}/g, '$&\n');
  assert.ok(userData.includes('\n'));
  const fields = { image_id: 'precise', hwp_id: 'custom', hwp_memory: '256', name: 'provisioned', keyname: 'provkey', password: PASSWORD, user_data: userData };
  const created = await dc('POST', '/api/instances?format=xml', { body: form(fields), type: FORM });
  assert.equal(created.status, 201, created.text);
  const id = created.xml!.getAttribute('id')!;
  assertInstance(created.xml!, id);
  assert.equal(created.headers.get('location'), `${d.url}/api/instances/${id}`);
  assert.equal(textOf(created.xml!, 'state'), 'PENDING');
  assert.equal(kid(created.xml!, 'image').getAttribute('id'), 'precise');
  const auth = kid(created.xml!, 'authentication');
  assert.equal(auth.getAttribute('type'), 'key');
  assert.equal(textOf(kid(auth, 'login'), 'keyname'), 'provkey');

  // Inside the guest: what its NoCloud reader applied, on its console.
  const report = await waitFor(async () => {
    const { data } = await c.call<{ data: string }>('sysadm', 'console', { action: 'log', vmid: id, since: 0, limit: 1 << 20 }).catch(() => ({ data: '' }));
    return /HYVED-NOCLOUD done/.test(data) ? data : null;
  }, 'the guest to read its seed', 120_000, 250);
  assert.match(report, /HYVED-NOCLOUD instance-id=iid-[a-z0-9]+ hostname=provisioned /);
  assert.match(report, new RegExp(`authorized_keys=1 md5=${createHash('md5').update(`${pub}\n`).digest('hex')}`), 'root may sign in with the key');
  const hash = /shadow=root:(\$6\$([^$]+)\$\S+)/.exec(report);
  assert.ok(hash, report);
  assert.equal(execFileSync('openssl', ['passwd', '-6', '-salt', hash[2], PASSWORD], { encoding: 'utf8' }).trim(), hash[1], "root's hash is the password's");
  assert.match(report, /HYVED-DC-USERDATA ran as 0 on provisioned/);
  assert.match(report, /firstboot=ran exit=0/);

  // Afterwards: RUNNING, made from the distribution, its key shown to its owner (not to another user).
  await waitFor(async () => (await stateOf(id)) === 'RUNNING', 'the instance to run', 30_000, 200);
  const show = await dc('GET', `/api/instances/${id}`);
  assertInstance(show.xml!, id);
  assert.equal(kid(show.xml!, 'image').getAttribute('id'), 'precise');
  assert.equal(textOf(kid(kid(show.xml!, 'authentication'), 'login'), 'keyname'), 'provkey');
  assert.deepEqual((await dc('GET', `/api/instances/${id}?format=json`)).json.instance.authentication, { keyname: 'provkey' });
  const listed = (await dc('GET', '/api/instances?format=json')).json.instances.find((i: { id: string }) => i.id === id);
  assert.deepEqual([listed.image.id, listed.authentication], ['precise', { keyname: 'provkey' }]);
  const viewer = await dc('GET', `/api/instances/${id}`, { auth: basic('viewer', USERS.viewer) });
  assert.equal(textOf(kid(kid(viewer.xml!, 'authentication'), 'login'), 'keyname'), '');
  const info = await c.call<{ distribution: string; ssh_key_fingerprints: string[] }>('sysadm', 'vm', { action: 'info', vmid: id });
  assert.equal(info.distribution, 'precise');
  assert.deepEqual(info.ssh_key_fingerprints, [textOf((await dc('GET', '/api/keys/provkey')).xml!, 'fingerprint')]);

  // The secrets went into the seed only.
  const haystacks: [string, string][] = [['daemon output', d.output()], ['events', JSON.stringify(events)], ['vm.json', await readFile(path.join(d.stateDir, 'vms', id, 'vm.json'), 'utf8')]];
  for (const f of await readdir(path.join(d.stateDir, 'tasks'))) haystacks.push([`tasks/${f}`, await readFile(path.join(d.stateDir, 'tasks', f), 'utf8')]);
  for (const f of (await readdir(d.stateDir)).filter((f) => f.endsWith('.log'))) haystacks.push([f, await readFile(path.join(d.stateDir, f), 'utf8')]);
  const b64 = Buffer.from(SCRIPT).toString('base64');
  for (const [where, text] of haystacks) {
    for (const secret of [PASSWORD, 'dc-firstboot-secret-51d0', b64.slice(0, 40), b64.slice(60, 100)]) assert.ok(!text.includes(secret), `a secret (${secret.slice(0, 6)}...) is in ${where}`);
  }
  assert.ok(haystacks.some(([, t]) => t.includes('vm create provisioned from precise and power on')), 'the create task was recorded');
  assert.ok(events.some((e) => JSON.stringify(e).includes('"audit"')), 'audit events were received');
  await c.call('sysadm', 'vm', { action: 'delete', vmid: id, force: true });
});
