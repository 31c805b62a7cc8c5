import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { HyvedClient } from '../src/client/client.js';
import { RawSocket } from './helpers/raw.js';
import { startDaemon, type TestDaemon } from './helpers/daemon.js';
import { LOOPBACK, startIsoServer, type IsoServer } from './helpers/servers.js';
import { waitFor } from './helpers/wait.js';

/**
 * What sysadm's GUI (sysadm-ui-qt, page_iohyve.cpp) needs of the iohyve class: it asks issetup
 * first and shows its setup page, filled from sysadm/zfs and sysadm/network, unless the answer is
 * "true"; it reads dispatcher events' fields with toString(). The daemon runs in New York time so
 * that the guest description's zone is known.
 */

process.env.TZ = 'America/New_York';

interface Figures { percent: number | null; bytes: number | null; total: number | null; rate: number | null }
interface DispatcherEvent {
  event_system: string;
  state: 'pending' | 'running' | 'finished';
  process_id: string;
  filename?: string;
  percent_done: string;
  download_rate: string;
  progress: Figures;
  result?: string;
  process_details: Record<string, unknown>;
}

let d: TestDaemon;
let web: IsoServer;
let c: HyvedClient;
const events: DispatcherEvent[] = [];

before(async () => {
  web = await startIsoServer();
  d = await startDaemon({ iso: { allow_private: LOOPBACK }, storage_grades: { standard: 'discs', fast: 'fast-discs' }, nics: { lan: { interface: 'em0', description: 'office' } } });
  c = await d.client();
  c.on('event', (name: string, args: DispatcherEvent) => name === 'dispatcher' && events.push(args));
  await c.call('events', 'subscribe', ['dispatcher']);
});
after(async () => {
  c?.close();
  await d?.stop();
  await web?.close();
});

const iohyve = <T = any>(args: Record<string, unknown>) => c.call<T>('sysadm', 'iohyve', args);
const eventsOf = (id: string) => events.filter((e) => e.process_id === id);
const finished = (id: string) => waitFor(() => eventsOf(id).find((e) => e.state === 'finished'), `task ${id} to finish`, 20_000);

test("a fresh daemon: the GUI's issetup reads true, so the page goes on to listvms and listisos", async () => {
  const s = await RawSocket.open(d.url);
  assert.equal((await s.request('rpc', 'auth', { username: 'admin', password: d.adminPassword })).name, 'response');
  const tag = 'client_page_iohyve_';
  const setup = await s.request('sysadm', 'iohyve', { action: 'issetup' }, `${tag}is_setup`);
  assert.deepEqual([setup.name, setup.id, setup.args], ['response', `${tag}is_setup`, { issetup: { setup: 'true' } }]);
  const vms = await s.request('sysadm', 'iohyve', { action: 'listvms' }, `${tag}list_vm`);
  assert.deepEqual(vms.args, { listvms: {} });
  const isos = await s.request('sysadm', 'iohyve', { action: 'listisos' }, `${tag}list_iso`);
  assert.ok(Array.isArray(isos.args.listisos), JSON.stringify(isos.args));
  s.close();
});

test('setup succeeds with and without a pool and answers the grade in use; "" clears the NIC', async () => {
  assert.deepEqual(await iohyve({ action: 'setup' }), { setup: { pool: 'standard', nic: '' } }, 'nothing chosen yet: the first grade');
  assert.deepEqual(await iohyve({ action: 'setup', pool: 'fast', nic: 'em0' }), { setup: { pool: 'fast', nic: 'lan' } });
  assert.deepEqual(await iohyve({ action: 'setup' }), { setup: { pool: 'fast', nic: 'lan' } }, 'without arguments the choice stays');
  assert.deepEqual(await iohyve({ action: 'setup', pool: 'standard', nic: '' }), { setup: { pool: 'standard', nic: '' } });
  assert.deepEqual(await iohyve({ action: 'issetup' }), { issetup: { setup: 'true' } });
  const missing = await iohyve({ action: 'setup', pool: 'tank' }).then(() => null, (e: { code: number }) => e.code);
  assert.equal(missing, 404);
});

test("a fetch's dispatcher events carry sysadm's string fields and process_details, with hyved's figures under progress", async () => {
  const url = `${web.url}/slow.iso`;
  const command = `iohyve fetch ${url}`;
  const id = (await iohyve<{ fetchiso: { queueid: string } }>({ action: 'fetchiso', url, name: 'slow.iso' })).fetchiso.queueid;
  const running = await waitFor(() => eventsOf(id).find((e) => e.state === 'running' && (e.progress.percent ?? 0) > 0 && e.progress.rate !== null), 'a progress event with a rate', 20_000);

  const pending = eventsOf(id)[0];
  assert.equal(pending.state, 'pending');
  assert.deepEqual([pending.percent_done, pending.download_rate], ['', '']);
  assert.deepEqual(pending.progress, { percent: null, bytes: null, total: null, rate: null });
  assert.deepEqual(pending.process_details, { process_id: id, state: 'pending', cmd_list: [command] });

  assert.equal(running.event_system, 'sysadm/iohyve');
  assert.equal(running.filename, 'slow.iso');
  const { percent, bytes, total, rate } = running.progress;
  assert.equal(total, 64 * 1024 * 1000);
  assert.ok(bytes! > 0 && bytes! < total!, `bytes ${bytes}`);
  assert.equal(running.percent_done, `${Math.floor(percent!)}%`);
  assert.ok(rate! > 0, `rate ${rate}`);
  assert.match(running.download_rate, /^\d{1,4} [kMG]?Bps$/);
  const details = running.process_details;
  assert.equal(details.process_id, id);
  assert.equal(details.state, 'running');
  assert.deepEqual(details.cmd_list, [command]);
  assert.equal(details.current_cmd, command);
  assert.equal(typeof details[command], 'string');
  assert.ok(!Number.isNaN(Date.parse(details.time_started as string)));

  const list = await c.call<{ jobs: Record<string, Record<string, { percent_done: string; download_rate: string; progress: Figures }>> }>('rpc', 'dispatcher', { action: 'list' });
  const job = list.jobs['sysadm/iohyve'][id];
  assert.match(job.percent_done, /^\d{1,3}%$/);
  assert.match(job.download_rate, /^\d{1,4} [kMG]?Bps$/);
  assert.equal(job.progress.total, total);

  await c.call('rpc', 'dispatcher', { action: 'kill', job_id: id });
  const canceled = await finished(id);
  assert.equal(canceled.result, 'canceled');
  assert.equal(canceled.process_details[`return_codes/${command}`], '1');
  assert.equal(canceled.process_details.current_cmd, undefined, 'no current command once finished');
  assert.ok(!Number.isNaN(Date.parse(canceled.process_details.time_finished as string)));

  const bigUrl = `${web.url}/big.iso`;
  const big = (await iohyve<{ fetchiso: { queueid: string } }>({ action: 'fetchiso', url: bigUrl })).fetchiso.queueid;
  const done = await finished(big);
  assert.equal(done.result, 'success');
  assert.equal(done.percent_done, '100%');
  assert.deepEqual([done.progress.percent, done.progress.bytes, done.progress.total], [100, web.body.length, web.body.length]);
  assert.equal(done.process_details.state, 'finished');
  assert.equal(done.process_details[`return_codes/iohyve fetch ${bigUrl}`], '0');
  assert.match(done.process_details[`iohyve fetch ${bigUrl}`] as string, new RegExp(`fetched ${web.body.length} bytes into big\\.iso`));
});

test("create's default description is the creation time in sysadm's form, in local time", async () => {
  const before = Date.now();
  const id = (await iohyve<{ create: { queueid: string } }>({ action: 'create', name: 'guiguest', size: '1G' })).create.queueid;
  assert.equal((await finished(id)).result, 'success');
  const { description } = (await iohyve({ action: 'listvms' })).listvms.guiguest;
  const m = /^((?:January|February|March|April|May|June|July|August|September|October|November|December) [1-9]\d?, \d{4}) at ((?:0[1-9]|1[0-2]):[0-5]\d:[0-5]\d [AP]M) (E[SD]T)$/.exec(description);
  assert.ok(m, `"${description}" is like "February 1, 2016 at 03:11:57 PM EST"`);
  // This process runs in New York time too, so the words read back as the same instant.
  const at = Date.parse(`${m[1]} ${m[2]}`);
  assert.ok(at >= Math.floor(before / 1000) * 1000 && at <= Date.now(), `${description} is when the guest was made`);
  await iohyve({ action: 'delete', name: 'guiguest' });
});
