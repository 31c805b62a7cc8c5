import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { startDaemon, type TestDaemon } from './helpers/daemon.js';
import { LOOPBACK, sha256, startIsoServer } from './helpers/servers.js';
import { waitFor } from './helpers/wait.js';

const daemons: TestDaemon[] = [];
after(() => Promise.all(daemons.map((d) => d.stop())));

test('SIGKILL during a fetch: after restart the task reads interrupted, the partial file is gone, the store intact', async () => {
  const web = await startIsoServer(1024 * 1024);
  try {
    const d = await startDaemon({ iso: { allow_private: LOOPBACK } });
    daemons.push(d);
    const isoDir = path.join(d.stateDir, 'images', 'iso');
    const c = await d.client();
    const seen: { process_id: string; state: string; progress: { percent: number | null }; result?: string }[] = [];
    c.on('event', (_n: string, a: (typeof seen)[number]) => seen.push(a));
    await c.call('events', 'subscribe', ['dispatcher']);
    const ok = await c.call<{ fetchiso: { queueid: string } }>('sysadm', 'iohyve', { action: 'fetchiso', url: `${web.url}/big.iso`, name: 'keep.iso' });
    await waitFor(() => seen.some((e) => e.process_id === ok.fetchiso.queueid && e.state === 'finished'), 'the first fetch to finish', 30_000);
    const r = await c.call<{ fetchiso: { queueid: string } }>('sysadm', 'iohyve', { action: 'fetchiso', url: `${web.url}/slow.iso`, name: 'slow.iso' });
    const id = r.fetchiso.queueid;
    await waitFor(() => seen.some((e) => e.process_id === id && (e.progress.percent ?? 0) > 0), 'the slow fetch to make progress', 30_000);
    assert.ok((await readdir(isoDir)).some((f) => f.startsWith('.slow.iso.part')), 'partial exists before the kill');
    c.close();
    await d.stop('SIGKILL');

    const again = await startDaemon({ iso: { allow_private: LOOPBACK } }, d.stateDir);
    daemons.push(again);
    const c2 = await again.client('admin', d.adminPassword);
    const list = await c2.call<{ jobs: Record<string, Record<string, { state: string; result?: string; error?: string }>> }>('rpc', 'dispatcher', { action: 'list', history: true });
    const job = list.jobs['sysadm/iohyve'][id];
    assert.equal(job.state, 'finished');
    assert.equal(job.result, 'interrupted');
    assert.match(job.error ?? '', /daemon stopped/);
    assert.equal(list.jobs['sysadm/iohyve'][ok.fetchiso.queueid].result, 'success');
    assert.deepEqual(await readdir(isoDir), ['keep.iso'], 'partial gone, finished ISO kept');
    assert.equal(sha256(await readFile(path.join(isoDir, 'keep.iso'))), sha256(web.body));
    assert.match(again.output(), /interrupted by a daemon stop/);
    c2.close();
  } finally {
    await web.close();
  }
});
