import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import type { HyvedClient } from '../src/client/client.js';
import { runHyved, startDaemon, tempDir, type TestDaemon } from './helpers/daemon.js';
import { waitFor } from './helpers/wait.js';

const run = promisify(execFile);

/** The whole-request limit these tests run under, and the idle deadline that replaces it for uploads. */
const REQUEST_S = 2;
const IDLE_S = 3;
const MAX_UPLOAD = 1024 * 1024;

let d: TestDaemon;
let admin: HyvedClient;
let work: string;

before(async () => {
  work = await tempDir('hyved-upload-');
  d = await startDaemon({ http: { request_timeout_s: REQUEST_S, upload_idle_timeout_s: IDLE_S }, images: { max_upload_bytes: MAX_UPLOAD } });
  admin = await d.client();
});

after(async () => {
  admin?.close();
  await d?.stop();
});

const basic = (user = 'admin', password = d.adminPassword) => 'Basic ' + Buffer.from(`${user}:${password}`).toString('base64');

/** An ISO 9660 image as far as the first volume descriptor goes: type 1 (primary), `CD001`, version 1. */
function isoBytes(size = 64 * 1024): Buffer {
  const b = Buffer.alloc(size, 0x5a);
  b.write('\x01CD001\x01', 32768, 'latin1');
  return b;
}

interface Answer { status: number; body: { args: Record<string, unknown> } | null; closedAfterMs: number }

/**
 * A PUT on a raw socket, the body sent in `chunk`-byte pieces every `everyMs`, stopping (but
 * keeping the connection open) after `stallAfter` bytes: what a slow link or a slowloris sends.
 * Resolves once the daemon closes the connection (the request asks it to), with its answer, if any.
 */
function slowPut(pathname: string, body: Buffer, opts: { chunk: number; everyMs: number; stallAfter?: number; headers?: Record<string, string> }): Promise<Answer> {
  const { hostname, port } = new URL(d.url);
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const socket = net.connect(Number(port), hostname);
    let got = '';
    let stopped = false;
    socket.on('data', (b) => (got += b.toString('latin1')));
    socket.on('error', () => {});
    socket.on('close', () => {
      stopped = true;
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(got)?.[1] ?? 0);
      const text = got.split('\r\n\r\n').slice(1).join('\r\n\r\n');
      let parsed: Answer['body'] = null;
      try {
        parsed = text ? (JSON.parse(text) as Answer['body']) : null;
      } catch {
        return reject(new Error(`not JSON: ${got}`));
      }
      resolve({ status, body: parsed, closedAfterMs: Date.now() - started });
    });
    const headers = { Host: `${hostname}:${port}`, Authorization: basic(), 'Content-Length': String(body.length), Connection: 'close', ...opts.headers };
    socket.write(`PUT ${pathname} HTTP/1.1\r\n${Object.entries(headers).map(([k, v]) => `${k}: ${v}`).join('\r\n')}\r\n\r\n`);
    void (async () => {
      const end = Math.min(body.length, opts.stallAfter ?? body.length);
      for (let at = 0; at < end && !stopped; at += opts.chunk) {
        socket.write(body.subarray(at, Math.min(end, at + opts.chunk)));
        await sleep(opts.everyMs);
      }
    })();
  });
}

/** `curl -T`: it reads an answer that comes before the whole body was sent and stops sending. */
async function curlPut(file: string, pathname: string, auth = basic()): Promise<{ status: number; body: { args: Record<string, unknown> } }> {
  const { stdout } = await run('curl', ['-s', '-T', file, '-H', `Authorization: ${auth}`, '-w', '\n%{http_code}', `${d.url}${pathname}`], { maxBuffer: 1 << 20 });
  const cut = stdout.lastIndexOf('\n');
  return { status: Number(stdout.slice(cut + 1)), body: JSON.parse(stdout.slice(0, cut)) as { args: Record<string, unknown> } };
}

async function fileOf(name: string, bytes: Buffer): Promise<string> {
  const file = path.join(work, name);
  await writeFile(file, bytes);
  return file;
}

const storeFiles = (store: 'iso' | 'dist') => readdir(path.join(d.stateDir, 'images', store));
const hidden = async (store: 'iso' | 'dist') => (await storeFiles(store)).filter((f) => f.startsWith('.'));

test('a request trickling its body past http.request_timeout_s is answered 408 and closed, however its path is spelt', async () => {
  // `/upload/../sysadm/iohyve` is routed as /sysadm/iohyve: it must not pass for an upload and escape the deadline.
  for (const pathname of ['/sysadm/iohyve', '/upload/../sysadm/iohyve']) {
    const r = await slowPut(pathname, Buffer.from(JSON.stringify({ action: 'listisos' }).padEnd(200)), {
      chunk: 4,
      everyMs: 300,
      headers: { 'Content-Type': 'application/json' },
    });
    assert.equal(r.status, 408, `${pathname}: ${JSON.stringify(r.body)}`);
    assert.match(String(r.body?.args.message), /http\.request_timeout_s/);
    assert.ok(r.closedAfterMs < 30_000);
  }
});

test('an upload that takes longer than the request limit but never idles is stored; one that stalls is cut with nothing left', async () => {
  const iso = isoBytes(96 * 1024);
  // ~12 pieces 500 ms apart: three times the request limit, each gap well inside the idle deadline.
  const slow = await slowPut('/upload/iso/slow.iso', iso, { chunk: 8192, everyMs: 500 });
  assert.equal(slow.status, 201, JSON.stringify(slow.body));
  assert.ok(slow.closedAfterMs > REQUEST_S * 1000, `took ${slow.closedAfterMs} ms`);
  assert.deepEqual(slow.body?.args, { name: 'slow.iso', size: iso.length });
  assert.ok((await readFile(path.join(d.stateDir, 'images', 'iso', 'slow.iso'))).equals(iso));

  // Half the body, then silence: cut at the idle deadline, its temp file removed.
  const stalled = slowPut('/upload/iso/stalled.iso', iso, { chunk: 16384, everyMs: 50, stallAfter: 48 * 1024 });
  await waitFor(async () => (await hidden('iso')).some((f) => f.startsWith('.stalled.iso.part-upload-')), 'the stalled upload to reach the store', 20_000);
  const cut = await stalled;
  assert.ok(cut.status === 408 || cut.status === 0, `status ${cut.status}`);
  if (cut.status === 408) assert.match(String(cut.body?.args.message), /upload_idle_timeout_s/);
  assert.ok(cut.closedAfterMs >= IDLE_S * 1000, `cut after ${cut.closedAfterMs} ms`);
  await waitFor(async () => (await hidden('iso')).length === 0, 'the stalled temp file to be removed', 20_000);
  assert.ok(!(await storeFiles('iso')).includes('stalled.iso'));
  const { listisos } = await admin.call<{ listisos: string[] }>('sysadm', 'iohyve', { action: 'listisos' });
  assert.deepEqual(listisos, ['slow.iso']);

  // A refused upload whose small body stalls while it drains: cut at the idle deadline, with its refusal.
  const refused = await slowPut('/upload/iso/..%2Fescape.iso', iso, { chunk: 16384, everyMs: 50, stallAfter: 32 * 1024 });
  assert.equal(refused.status, 400, JSON.stringify(refused.body));
  assert.ok(JSON.stringify(refused.body?.args).includes('/args/name'));
  assert.ok(refused.closedAfterMs >= IDLE_S * 1000, `answered after ${refused.closedAfterMs} ms`);
});

test('PUT /upload/iso/<file>: an ISO 9660 image is stored and listed; a bad name, a non-ISO, an over-size body and a missing permission are refused', async () => {
  const iso = await fileOf('good.iso', isoBytes());
  const up = await curlPut(iso, '/upload/iso/install-1.2.iso');
  assert.equal(up.status, 201, JSON.stringify(up.body));
  assert.deepEqual(up.body.args, { name: 'install-1.2.iso', size: 64 * 1024 });
  const { listisos } = await admin.call<{ listisos: string[] }>('sysadm', 'iohyve', { action: 'listisos' });
  assert.ok(listisos.includes('install-1.2.iso'));
  // No silent overwrite; ?overwrite=true replaces.
  assert.equal((await curlPut(iso, '/upload/iso/install-1.2.iso')).status, 409);
  assert.equal((await curlPut(iso, '/upload/iso/install-1.2.iso?overwrite=true')).status, 201);

  for (const bad of ['..%2F..%2Fusers.json', '.hidden.iso', 'a%20b.iso', '..%2F']) {
    const r = await curlPut(iso, `/upload/iso/${bad}`);
    assert.equal(r.status, 400, bad);
    assert.ok(JSON.stringify(r.body.args).includes('/args/name'), `${bad}: ${JSON.stringify(r.body.args)}`);
  }
  assert.equal((await curlPut(iso, '/upload/iso/a/b.iso')).status, 400);

  const notIso = await fileOf('not.iso', Buffer.alloc(40_000, 1));
  const r = await curlPut(notIso, '/upload/iso/not.iso');
  assert.equal(r.status, 400);
  assert.match(String(r.body.args.message), /ISO 9660.*CD001.*32769/);
  const short = await curlPut(await fileOf('short.iso', Buffer.from('hello')), '/upload/iso/short.iso');
  assert.equal(short.status, 400);
  assert.match(String(short.body.args.message), /CD001/);

  // Over images.max_upload_bytes: by its declared length, and by what is sent without one.
  const big = await fileOf('big.iso', isoBytes(MAX_UPLOAD + 4096));
  const declared = await curlPut(big, '/upload/iso/big.iso');
  assert.equal(declared.status, 413);
  // Chunked, so only the count of bytes received can stop it.
  const streamed = await new Promise<number>((resolve, reject) => {
    const child = execFile('curl', ['-s', '-o', '/dev/null', '-T', '-', '-H', `Authorization: ${basic()}`, '-w', '%{http_code}', `${d.url}/upload/iso/big.iso`], (err, stdout) => (err ? reject(err) : resolve(Number(stdout))));
    child.stdin!.on('error', () => {});
    child.stdin!.end(isoBytes(MAX_UPLOAD + 4096));
  });
  assert.equal(streamed, 413);

  const add = await runHyved(['user', 'add', 'viewer', '--password-stdin', '--perm', 'image.view', '--config', d.configFile], 'pass-word-1\n');
  assert.equal(add.code, 0, add.stderr);
  const denied = await curlPut(iso, '/upload/iso/viewer.iso', basic('viewer', 'pass-word-1'));
  assert.equal(denied.status, 403);
  assert.match(String(denied.body.args.message), /iso\.manage/);
  assert.equal((await curlPut(iso, '/upload/iso/anon.iso', '')).status, 401);

  await waitFor(async () => (await hidden('iso')).length === 0, 'no temp files', 10_000);
  // slow.iso is the test before's.
  assert.deepEqual((await storeFiles('iso')).filter((f) => f !== 'slow.iso'), ['install-1.2.iso']);
});

test('PUT /upload/dist/<name>/<file>: a descriptor and a qcow2 disc make a listed distribution; bad descriptors, discs, names and permissions are refused', async () => {
  const qcow2 = path.join(work, 'disk.qcow2');
  await run('qemu-img', ['create', '-q', '-f', 'qcow2', qcow2, '8M']);
  const descriptor = await fileOf('distribution.json', Buffer.from(JSON.stringify({ description: 'Uploaded Linux', os: 'linux', min_disc_mib: 8 })));
  assert.equal((await curlPut(descriptor, '/upload/dist/uplinux/distribution.json')).status, 201);
  // Not listed until its disc is in.
  let { distributions } = await admin.call<{ distributions: { name: string; description: string; format: string }[] }>('sysadm', 'dist', { action: 'list' });
  assert.ok(!distributions.some((x) => x.name === 'uplinux'));
  const up = await curlPut(qcow2, '/upload/dist/uplinux/disk.qcow2');
  assert.equal(up.status, 201, JSON.stringify(up.body));
  assert.equal(up.body.args.file, 'disk.qcow2');
  ({ distributions } = await admin.call('sysadm', 'dist', { action: 'list' }));
  assert.deepEqual(distributions.find((x) => x.name === 'uplinux'), { ...distributions.find((x) => x.name === 'uplinux'), description: 'Uploaded Linux', format: 'qcow2' });

  // A raw disc beside the qcow2 one only with overwrite, and then in its place.
  const raw = await fileOf('disk.raw', Buffer.alloc(1024 * 1024));
  assert.equal((await curlPut(raw, '/upload/dist/uplinux/disk.raw')).status, 409);
  assert.equal((await curlPut(raw, '/upload/dist/uplinux/disk.raw?overwrite=true')).status, 201);
  assert.deepEqual((await readdir(path.join(d.stateDir, 'images', 'dist', 'uplinux'))).sort(), ['disk.raw', 'distribution.json']);

  const badJson = await curlPut(await fileOf('bad.json', Buffer.from('{"firmware":"UEFI","kernel":"../../etc/passwd"}')), '/upload/dist/other/distribution.json');
  assert.equal(badJson.status, 400);
  assert.match(String(badJson.body.args.message), /distribution\.json: .*firmware/);
  assert.match(String(badJson.body.args.message), /kernel/);
  const notJson = await curlPut(await fileOf('not.json', Buffer.from('not json')), '/upload/dist/other/distribution.json');
  assert.equal(notJson.status, 400);

  // A qcow2 that names a backing file would read a host file into a guest's disc.
  const backed = path.join(work, 'backed.qcow2');
  await run('qemu-img', ['create', '-q', '-f', 'qcow2', '-F', 'raw', '-b', '/etc/passwd', backed, '8M']);
  const b = await curlPut(backed, '/upload/dist/other/disk.qcow2');
  assert.equal(b.status, 400);
  assert.match(String(b.body.args.message), /disk\.qcow2: .*backing file/);
  const mislabelled = await curlPut(raw, '/upload/dist/other/disk.qcow2');
  assert.equal(mislabelled.status, 400);
  assert.match(String(mislabelled.body.args.message), /disk\.qcow2/);
  const vmdk = await curlPut(raw, '/upload/dist/other/disk.vmdk');
  assert.equal(vmdk.status, 400);
  assert.ok(JSON.stringify(vmdk.body.args).includes('/args/file'));

  for (const [bad, field] of [['..%2Fx/disk.raw', 'name'], ['x/..%2F..%2Fusers.json', 'file'], ['.x/disk.raw', 'name'], ['x/.hidden', 'file']]) {
    const r = await curlPut(raw, `/upload/dist/${bad}`);
    assert.equal(r.status, 400, bad);
    assert.ok(JSON.stringify(r.body.args).includes(`/args/${field}`), `${bad}: ${JSON.stringify(r.body.args)}`);
  }
  assert.equal((await curlPut(raw, '/upload/dist/disk.raw')).status, 400);
  assert.equal((await curlPut(await fileOf('huge.raw', Buffer.alloc(MAX_UPLOAD + 1)), '/upload/dist/other/disk.raw')).status, 413);

  const add = await runHyved(['user', 'add', 'isoman', '--password-stdin', '--perm', 'iso.manage', '--perm', 'image.view', '--config', d.configFile], 'pass-word-1\n');
  assert.equal(add.code, 0, add.stderr);
  const denied = await curlPut(raw, '/upload/dist/other/disk.raw', basic('isoman', 'pass-word-1'));
  assert.equal(denied.status, 403);
  assert.match(String(denied.body.args.message), /image\.manage/);

  await waitFor(async () => (await hidden('dist')).length === 0, 'no temp files', 10_000);
  // Refused files left nothing: no folder for 'other'.
  assert.deepEqual((await storeFiles('dist')).sort(), ['uplinux']);
});

test('uploads cut off by a stop are removed at the next start, in every store; downloads and other files stay', async () => {
  const state = await tempDir('hyved-upload-restart-');
  const left = {
    iso: ['.x.iso.part-upload-0a1b2c3d4e5f', 'keep.iso', '.y.iso.part-task1'],
    dist: ['.deb.part-upload-0a1b2c3d4e5f', '.deb.part-task2'],
    'ova/images': ['.a.ova.part-upload-0a1b2c3d4e5f', 'keep.ova'],
    'ova/small': ['.b.ova.part-upload-0a1b2c3d4e5f'],
  };
  for (const [dir, names] of Object.entries(left)) {
    await mkdir(path.join(state, 'images', dir), { recursive: true });
    for (const n of names) await writeFile(path.join(state, 'images', dir, n), 'x');
  }
  const second = await startDaemon({}, state);
  try {
    assert.deepEqual((await readdir(path.join(state, 'images', 'iso'))).sort(), ['.y.iso.part-task1', 'keep.iso']);
    assert.deepEqual(await readdir(path.join(state, 'images', 'dist')), ['.deb.part-task2']);
    assert.deepEqual(await readdir(path.join(state, 'images', 'ova', 'images')), ['keep.ova']);
    assert.deepEqual(await readdir(path.join(state, 'images', 'ova', 'small')), []);
    for (const n of ['.x.iso.part-upload-', '.deb.part-upload-', 'images/.a.ova.part-upload-']) assert.match(second.output(), new RegExp(`removed \\S*${n.replace(/\./g, '\\.')}`));
  } finally {
    await second.stop();
  }
});
