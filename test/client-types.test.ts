import { test } from 'node:test';
import assert from 'node:assert/strict';
// Through the package's own export, as a script that installed hyved would import it.
import { HyvedClient, type Api, type RequestArgs } from 'hyved/client';
import { startDaemon } from './helpers/daemon.js';

// These lines are checked when the tests compile: tsc fails the build if a wrong call stops being an error.
function typeChecks(c: HyvedClient): void {
  // @ts-expect-error an unknown action
  void c.request('sysadm/vm/fly', {});
  // @ts-expect-error vmid is required
  void c.request('sysadm/vm/info', {});
  // @ts-expect-error a state the schema does not allow
  void c.request('sysadm/vm/state', { vmid: 'abcdefabcdef', state: 'FLYING' });
  const args: RequestArgs<'sysadm/vm/state'> = { vmid: 'abcdefabcdef', state: 'STOPPED', force: true };
  void args;
}
void typeChecks;

test('hyved/client: typed requests reach the daemon and their results have the schema types', async () => {
  const d = await startDaemon();
  try {
    const c = await HyvedClient.connect(d.url);
    await c.login('admin', d.adminPassword);
    const list: Api['sysadm/vm/list']['result'] = await c.request('sysadm/vm/list', { gid: 'default' });
    assert.deepEqual(list.vms, []);
    const { vmid } = await c.request('sysadm/vm/create', { name: 'typed', gid: 'default', type: 'BIOS', cpus: 1, memory_mib: 64 });
    const s = await c.request('sysadm/vm/state', { vmid });
    assert.equal(s.state, 'STOPPED');
    const ids: string[] = (await c.request('sysadm/vm/list', { gid: 'default' })).vms.map((v) => v.vmid);
    assert.deepEqual(ids, [vmid]);
    c.close();
  } finally {
    await d.stop();
  }
});
