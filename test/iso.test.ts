import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile, writeFile, mkdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { HyvedClient, CallError } from '../src/client/client.js';
import { startDaemon, tempDir, type TestDaemon } from './helpers/daemon.js';
import { LOOPBACK, sha256, startFtpServer, startIsoServer, type IsoServer } from './helpers/servers.js';
import { waitFor } from './helpers/wait.js';
import { setTimeout as sleep } from 'node:timers/promises';

interface DispatcherEvent {
  event_system: string;
  state: string;
  process_id: string;
  filename?: string;
  percent_done: string;
  download_rate: string;
  progress: { percent: number | null; bytes: number | null; total: number | null; rate: number | null };
  process_details: Record<string, unknown>;
  result?: string;
  error?: string;
  seq: number;
}

let d: TestDaemon;
let web: IsoServer;
let ftp: { url: string; close(): Promise<void> };
let importDir: string;
let isoDir: string;
let admin: HyvedClient;
const events: DispatcherEvent[] = [];

before(async () => {
  web = await startIsoServer();
  const root = await tempDir();
  importDir = path.join(root, 'import');
  await mkdir(importDir);
  await writeFile(path.join(importDir, 'local.iso'), web.body);
  ftp = await startFtpServer(path.join(root, 'ftp'), { 'pub.iso': web.body });
  d = await startDaemon({ iso: { import_dirs: [importDir], stall_timeout_s: 1, allow_private: LOOPBACK } });
  isoDir = path.join(d.stateDir, 'images', 'iso');
  admin = await d.client();
  admin.on('event', (name: string, args: DispatcherEvent) => name === 'dispatcher' && events.push(args));
  await admin.call('events', 'subscribe', ['dispatcher']);
});
after(async () => {
  admin?.close();
  await d?.stop();
  await web?.close();
  await ftp?.close();
});

function waitFinished(id: string, ms = 20_000): Promise<DispatcherEvent> {
  return waitFor(() => events.find((e) => e.process_id === id && e.state === 'finished'), `task ${id} to finish`, ms);
}

async function fetchIso(url: string, extra: Record<string, unknown> = {}): Promise<DispatcherEvent> {
  const r = await admin.call<{ fetchiso: { queueid: string } }>('sysadm', 'iohyve', { action: 'fetchiso', url, ...extra });
  return waitFinished(r.fetchiso.queueid);
}

/** Every entry of the store, hidden temp files included. */
const storeFiles = () => readdir(isoDir);

test('fetchiso replies at once in sysadm shape; REST answers 202', async () => {
  const url = `${web.url}/big.iso`;
  const r = await admin.call<{ fetchiso: { command: string; comment: string; queueid: string } }>('sysadm', 'iohyve', { action: 'fetchiso', url });
  assert.equal(r.fetchiso.command, `iohyve fetch ${url}`);
  assert.equal(r.fetchiso.comment, 'Task Queued');
  assert.match(r.fetchiso.queueid, /^sysadm_iohyve_fetchiso::/);
  const done = await waitFinished(r.fetchiso.queueid);
  assert.equal(done.result, 'success');
  assert.equal(done.event_system, 'sysadm/iohyve');
  assert.equal(done.filename, 'big.iso');
  assert.equal(done.percent_done, '100%');
  assert.equal(done.progress.percent, 100);
  assert.equal(done.progress.bytes, web.body.length);
  const res = await fetch(`${d.url}/sysadm/iohyve`, {
    method: 'PUT',
    headers: { Authorization: 'Basic ' + Buffer.from(`admin:${d.adminPassword}`).toString('base64'), 'Content-Type': 'application/json' },
    body: JSON.stringify({ url: `${web.url}/big.iso`, action: 'fetchiso', name: 'rest.iso' }),
  });
  assert.equal(res.status, 202);
  const body = (await res.json()) as { args: { fetchiso: { queueid: string } } };
  assert.equal((await waitFinished(body.args.fetchiso.queueid)).result, 'success');
});

test('each source lands byte-identical; each failure leaves no partial file', async () => {
  const cases: [string, string, string | RegExp][] = [
    ['content-length', `${web.url}/big.iso`, 'success'],
    ['chunked', `${web.url}/chunked.iso`, 'success'],
    ['redirect', `${web.url}/redirect.iso`, 'success'],
    ['ftp', `${ftp.url}/pub.iso`, 'success'],
    ['file inside', `file://${importDir}/local.iso`, 'success'],
    ['404', `${web.url}/missing.iso`, /404/],
    ['stall', `${web.url}/stall.iso`, /stall/i],
    ['refused', 'http://127.0.0.1:9/x.iso', /refused/i],
  ];
  for (const [label, url, expect] of cases) {
    const name = `${label.replace(/\W/g, '-')}.iso`;
    const done = await fetchIso(url, { name });
    if (expect === 'success') {
      assert.equal(done.result, 'success', `${label}: ${done.error}`);
      assert.equal(sha256(await readFile(path.join(isoDir, name))), sha256(web.body), label);
    } else {
      assert.equal(done.result, 'failed', label);
      assert.match(done.error ?? '', expect as RegExp, label);
      assert.ok(!(await storeFiles()).some((f) => f.includes(name)), `${label}: nothing left behind`);
    }
  }
  assert.ok(!(await storeFiles()).some((f) => f.startsWith('.')), 'no temp files remain');
});

test('file:// outside the import directories is refused', async () => {
  for (const url of ['file:///etc/passwd', `file://${importDir}/../import/../../etc/shadow`]) {
    const err = await admin.call('sysadm', 'iohyve', { action: 'fetchiso', url, name: 'x.iso' }).catch((e: CallError) => e);
    if (err instanceof CallError) assert.ok([400, 403].includes(err.code), `${url}: ${err.message}`);
    else {
      const done = await waitFinished((err as { fetchiso: { queueid: string } }).fetchiso.queueid);
      assert.equal(done.result, 'failed', url);
    }
  }
  assert.ok(!(await storeFiles()).includes('x.iso'));
});

test('progress events reach two clients in the same order; a reconnecting client gets what it missed', async () => {
  const other = await d.client();
  const seen: DispatcherEvent[] = [];
  other.on('event', (_n: string, a: DispatcherEvent) => seen.push(a));
  const sub = await other.call<{ seq: number }>('events', 'subscribe', ['dispatcher']);
  const done = await fetchIso(`${web.url}/chunked.iso`, { name: 'twice.iso' });
  await sleep(100);
  const mine = events.filter((e) => e.process_id === done.process_id).map((e) => e.seq);
  const theirs = seen.filter((e) => e.process_id === done.process_id).map((e) => e.seq);
  assert.deepEqual(theirs, mine);
  assert.ok(mine.length >= 3, 'pending, running, finished at least');
  other.close();
  const late = await d.client();
  const replay: DispatcherEvent[] = [];
  late.on('event', (_n: string, a: DispatcherEvent) => replay.push(a));
  const r = await late.call<{ gap: boolean }>('events', 'subscribe', { events: ['dispatcher'], since: sub.seq });
  assert.equal(r.gap, false);
  await sleep(200);
  assert.deepEqual(replay.filter((e) => e.process_id === done.process_id).map((e) => e.seq), mine);
  late.close();
});

test('dispatcher list and kill in sysadm shapes: a running download is aborted and its partial removed', async () => {
  const r = await admin.call<{ fetchiso: { queueid: string } }>('sysadm', 'iohyve', { action: 'fetchiso', url: `${web.url}/slow.iso`, name: 'slow.iso' });
  const id = r.fetchiso.queueid;
  await waitFor(() => events.some((e) => e.process_id === id && (e.progress.percent ?? 0) > 0), 'the download to make progress');
  assert.ok((await storeFiles()).some((f) => f.startsWith('.slow.iso.part')), 'partial file exists while running');
  const list = await admin.call<{ jobs: Record<string, Record<string, { commands: string[]; queue_position: string; state: string }>> }>('rpc', 'dispatcher', { action: 'list' });
  const job = list.jobs['sysadm/iohyve'][id];
  assert.equal(job.state, 'running');
  assert.equal(job.queue_position, '0');
  assert.deepEqual(job.commands, [`iohyve fetch ${web.url}/slow.iso`]);
  const killed = await admin.call('rpc', 'dispatcher', { action: 'kill', job_id: id });
  assert.deepEqual(killed, { killed: { jobs: [id] } });
  const done = await waitFinished(id, 5000);
  assert.equal(done.result, 'canceled');
  assert.ok(!(await storeFiles()).some((f) => f.includes('slow.iso')), 'partial removed');
  const hist = await admin.call<{ jobs: Record<string, Record<string, { result?: string }>> }>('rpc', 'dispatcher', { action: 'list', history: true });
  assert.equal(hist.jobs['sysadm/iohyve'][id].result, 'canceled');
  await assert.rejects(admin.call('rpc', 'dispatcher', { action: 'kill', job_id: 'nope' }), (e: CallError) => e.code === 404);
  await assert.rejects(admin.call('rpc', 'dispatcher', { action: 'run', command: 'id' }), (e: CallError) => e.code === 403);
});

test('listisos, renameiso and rmiso with the seed shapes and their 404/409', async () => {
  await fetchIso(`${web.url}/big.iso`, { name: 'test.iso' });
  const list = await admin.call<{ listisos: string[]; isos: { name: string; size: number }[] }>('sysadm', 'iohyve', { action: 'listisos' });
  assert.ok(list.listisos.includes('test.iso'));
  assert.equal(list.isos.find((i) => i.name === 'test.iso')?.size, web.body.length);
  assert.deepEqual(await admin.call('sysadm', 'iohyve', { source: 'test.iso', target: '102.iso', action: 'renameiso' }), { renameiso: { source: 'test.iso', target: '102.iso' } });
  await assert.rejects(admin.call('sysadm', 'iohyve', { source: 'test.iso', target: 'y.iso', action: 'renameiso' }), (e: CallError) => e.code === 404);
  await assert.rejects(admin.call('sysadm', 'iohyve', { source: '102.iso', target: 'big.iso', action: 'renameiso' }), (e: CallError) => e.code === 409);
  await assert.rejects(admin.call('sysadm', 'iohyve', { action: 'fetchiso', url: `${web.url}/big.iso` }), (e: CallError) => e.code === 409, 'no silent overwrite');
  assert.deepEqual(await admin.call('sysadm', 'iohyve', { action: 'rmiso', target: '102.iso' }), { rmiso: { target: '102.iso' } });
  await assert.rejects(admin.call('sysadm', 'iohyve', { action: 'rmiso', target: '102.iso' }), (e: CallError) => e.code === 404);
});

// Found by the fuzzer: the loser of a race between the existence check and the change got a 500.
test('concurrent rmiso and renameiso of one ISO: one wins, the others read 404, never 500', async () => {
  for (let round = 0; round < 20; round++) {
    await writeFile(path.join(isoDir, 'race.iso'), 'x');
    const calls = [
      admin.call('sysadm', 'iohyve', { action: 'rmiso', target: 'race.iso' }),
      admin.call('sysadm', 'iohyve', { action: 'rmiso', target: 'race.iso' }),
      admin.call('sysadm', 'iohyve', { action: 'renameiso', source: 'race.iso', target: `race-${round}.iso` }),
      admin.call('sysadm', 'iohyve', { action: 'rmiso', target: 'race.iso' }),
    ];
    const settled = await Promise.allSettled(calls);
    const codes = settled.map((r) => (r.status === 'fulfilled' ? 200 : (r.reason as CallError).code));
    assert.equal(codes.filter((c) => c === 200).length, 1, `round ${round}: ${codes}`);
    assert.ok(codes.every((c) => c === 200 || c === 404), `round ${round}: ${codes}`);
  }
  const left = (await readdir(isoDir)).filter((f) => f.startsWith('race'));
  for (const f of left) assert.match(f, /^race-\d+\.iso$/);
});

test('traversal and injection attempts on every name and URL field are 400 and touch nothing', async () => {
  const sentinel = path.join(d.stateDir, 'images', 'sentinel');
  await writeFile(sentinel, 'keep');
  const before = (await storeFiles()).sort();
  const bad = ['../x', '../../users.json', '/etc/passwd', 'a;rm -rf /', '$(id)', '`id`', 'a\nb', 'x'.repeat(300), '.hidden', '..', '.', '', 'a/b', 'a\u0000b', 'ünï.iso', 'a b.iso'];
  const calls: Record<string, unknown>[] = [];
  for (const v of bad) {
    calls.push({ action: 'fetchiso', url: `${web.url}/big.iso`, name: v });
    calls.push({ action: 'renameiso', source: v, target: 'ok.iso' });
    calls.push({ action: 'renameiso', source: 'big.iso', target: v });
    calls.push({ action: 'rmiso', target: v });
  }
  for (const url of ['/etc/passwd', 'javascript:alert(1)', 'gopher://x/y.iso', 'http://', `${web.url}/`, 'file:///etc/passwd\n', '$(id)', `${web.url}/..%2F..%2Fusers.json`]) {
    calls.push({ action: 'fetchiso', url });
  }
  for (const args of calls) {
    const err = await admin.call('sysadm', 'iohyve', args).then(
      () => null,
      (e: CallError) => e,
    );
    assert.ok(err, `accepted: ${JSON.stringify(args)}`);
    assert.ok([400, 403].includes(err.code), `${JSON.stringify(args)} → ${err.code} ${err.message}`);
  }
  assert.deepEqual((await storeFiles()).sort(), before);
  assert.equal(await readFile(sentinel, 'utf8'), 'keep');
  assert.ok((await stat(path.join(d.stateDir, 'users.json'))).size > 0);
});
