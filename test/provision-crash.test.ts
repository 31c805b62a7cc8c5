import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readdir, readFile, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { startDaemon, tempDir, type TestDaemon } from './helpers/daemon.js';
import { installDistribution } from './helpers/dist.js';
import { waitFor } from './helpers/wait.js';

let d: TestDaemon | undefined;
let stateDir: string | undefined;
after(async () => {
  await d?.stop();
  // The distribution is large: no copy stays behind in /tmp.
  if (stateDir) await rm(stateDir, { recursive: true, force: true });
});

test('a daemon killed in the middle of a create: after restart the task reads interrupted and the VM, its discs and its IP are gone', async () => {
  const dir = await tempDir();
  stateDir = dir;
  const dist = await installDistribution(dir, 'slow', { min_disc_mib: 0 });
  // Enough random bytes that writing them onto the disc takes a while.
  execFileSync('dd', ['if=/dev/urandom', `of=${path.join(dist, 'disk.raw')}`, 'bs=1M', 'count=384', 'status=none']);
  d = await startDaemon({}, dir);
  const c = await d.client();
  const seen: { process_id: string; description: string }[] = [];
  c.on('event', (name: string, a: { process_id: string; description: string }) => name === 'dispatcher' && seen.push(a));
  await c.call('events', 'subscribe', ['dispatcher']);
  const args = { action: 'create', name: 'cut', gid: 'default', cpus: 1, memory_mib: 128, nics: [{ type: 'NAT' }], discs: [{ label: 'root', size_mib: 512 }], reimage: { distribution: 'slow' }, ips: { ipv4: '10.0.2.60' } };
  const r = await c.call<{ vmid: string; queueid: string }>('sysadm', 'vm', args);
  await waitFor(() => seen.some((e) => e.process_id === r.queueid && /: image$/.test(e.description)), 'the image phase', 30_000);
  await waitFor(async () => (await readdir(path.join(dir, 'discs', r.vmid)).catch(() => [])).some((f) => f.endsWith('.reimage')), 'the disc being written', 30_000, 10);
  c.close();
  await d.stop('SIGKILL');

  d = await startDaemon({}, dir);
  const c2 = await d.client();
  const { vms } = await c2.call<{ vms: unknown[] }>('sysadm', 'vm', { action: 'list', gid: 'default' });
  assert.deepEqual(vms, []);
  for (const p of [path.join(dir, 'vms', r.vmid), path.join(dir, 'discs', r.vmid)]) assert.equal(await stat(p).catch(() => null), null, p);
  const record = JSON.parse(await readFile(path.join(dir, 'tasks', `${r.queueid}.json`), 'utf8'));
  assert.equal(record.result, 'interrupted');
  // The name and the address are free again.
  const again = await c2.call<{ queueid: string }>('sysadm', 'vm', { ...args, reimage: undefined, discs: [{ label: 'root', size_mib: 8 }] });
  assert.ok(again.queueid);
  c2.close();
});
