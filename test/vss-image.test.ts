import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { startDaemon, tempDir, type TestDaemon } from './helpers/daemon.js';
import { fixture, writeOva } from './helpers/ova.js';

const run = promisify(execFile);

interface Envelope { _links: { api: string; self: string }; data: { name: string; path: string }[]; meta: { count: number; time: string; user: string } }

let d: TestDaemon;
let TK: string;
let base: string;

// Names from the seed's listing, one in a group's folder as VSS shows folders that are not images/.
const IMAGES = ['images/Ubuntu_64-bit-vmx10.ova', 'images/xenial-server-cloudimg-amd64.ova', 'images/CentOS_64-bit_vmx10.ova', 'images/ubuntu-16.04-server.ova', 'default/1608T-stoic_carson.ova'];

before(async () => {
  d = await startDaemon();
  base = d.url;
  const client = await d.client();
  TK = await client.login('admin', d.adminPassword);
  client.close();
  const work = await tempDir('hyved-vss-');
  const ovf = (await fixture('vmware-1.0.ovf')).replace(/ovf:size="\d+"/, 'ovf:size="4096"');
  for (const p of IMAGES) {
    const file = path.join(work, path.basename(p));
    await mkdir(work, { recursive: true });
    await writeOva(file, 'x.ovf', ovf, [{ name: 'appliance-disk1.vmdk', data: Buffer.alloc(4096, 7) }]);
    const res = await fetch(`${base}/upload/ova/${p}`, { method: 'PUT', headers: { Authorization: `Bearer ${TK}` }, body: (await import('node:fs')).readFileSync(file) });
    assert.equal(res.status, 201, await res.text());
  }
});
after(async () => {
  await d?.stop();
});

/** `curl -H "Authorization: Bearer $TK" -X GET URL` as the seed writes it. */
async function curl(url: string, ...extra: string[]): Promise<{ status: number; headers: string; body: string }> {
  const { stdout } = await run('curl', ['-s', '-i', ...extra, url]);
  const [head, ...rest] = stdout.split('\r\n\r\n');
  return { status: Number(/^HTTP\/[\d.]+ (\d+)/.exec(head)![1]), headers: head, body: rest.join('\r\n\r\n') };
}

const get = async (query = ''): Promise<Envelope> => {
  const r = await curl(`${base}/v2/image${query}`, '-H', `Authorization: Bearer ${TK}`, '-X', 'GET');
  assert.equal(r.status, 200, r.body);
  return JSON.parse(r.body) as Envelope;
};

test('GET /v2/image: the seed envelope with every image, its real count and the user', async () => {
  const r = await get();
  assert.deepEqual(r._links, { api: `${base}/v2/`, self: `${base}/v2/image` });
  assert.deepEqual(r.data.map((x) => x.path).sort(), [...IMAGES].sort());
  assert.deepEqual(r.data.find((x) => x.path === 'default/1608T-stoic_carson.ova'), { name: '1608T-stoic_carson.ova', path: 'default/1608T-stoic_carson.ova' });
  assert.equal(r.meta.count, IMAGES.length);
  assert.match(r.meta.time, /^\d+\.\d{5}s$/);
  assert.equal(r.meta.user, 'admin');
  // As HTTPie sends it (`http GET URL "Authorization: Bearer $TK"`): the same request.
  const res = await fetch(`${base}/v2/image`, { headers: { Authorization: `Bearer ${TK}`, Accept: 'application/json, */*;q=0.5' } });
  assert.deepEqual(((await res.json()) as Envelope).data, r.data);
});

test('GET /v2/image?sort=name and ?sort=path', async () => {
  const byName = await get('?sort=name');
  assert.deepEqual(byName.data.map((x) => x.name), [...byName.data.map((x) => x.name)].sort((a, b) => a.localeCompare(b)));
  assert.equal(byName.data[0].name, '1608T-stoic_carson.ova');
  const byPath = await get('?sort=path');
  assert.deepEqual(byPath.data.map((x) => x.path), [...IMAGES].sort((a, b) => a.localeCompare(b)));
  assert.equal(byPath.data[0].path, 'default/1608T-stoic_carson.ova');
  const bad = await curl(`${base}/v2/image?sort=size`, '-H', `Authorization: Bearer ${TK}`);
  assert.equal(bad.status, 400);
  assert.match(JSON.parse(bad.body).message, /sort/);
});

test('GET /v2/image?name=ubuntu and ?name=ubuntu-16: case-insensitive substring of the file name', async () => {
  assert.deepEqual((await get('?name=ubuntu')).data.map((x) => x.name).sort(), ['Ubuntu_64-bit-vmx10.ova', 'ubuntu-16.04-server.ova']);
  const u16 = await get('?name=ubuntu-16');
  assert.deepEqual(u16.data, [{ name: 'ubuntu-16.04-server.ova', path: 'images/ubuntu-16.04-server.ova' }]);
  assert.equal(u16.meta.count, 1);
});

test('OPTIONS /v2/image describes the methods and parameters; no token, no listing', async () => {
  const r = await curl(`${base}/v2/image`, '-X', 'OPTIONS');
  assert.equal(r.status, 200);
  assert.match(r.headers, /Allow: GET, OPTIONS/i);
  const body = JSON.parse(r.body) as { data: { GET: { parameters: Record<string, unknown> } } };
  assert.deepEqual(Object.keys(body.data.GET.parameters).sort(), ['name', 'page', 'per_page', 'sort']);
  const anon = await curl(`${base}/v2/image`);
  assert.equal(anon.status, 401);
  const wrong = await curl(`${base}/v2/image`, '-H', 'Authorization: Bearer nope');
  assert.equal(wrong.status, 401);
  assert.equal((await curl(`${base}/v2/image`, '-X', 'DELETE', '-H', `Authorization: Bearer ${TK}`)).status, 405);
  const paged = await get('?sort=path&per_page=2&page=2');
  assert.deepEqual(paged.data.map((x) => x.path), [...IMAGES].sort((a, b) => a.localeCompare(b)).slice(2, 4));
});
