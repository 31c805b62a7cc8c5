import { test, after } from 'node:test';
import { spawn } from 'node:child_process';
import assert from 'node:assert/strict';
import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import type { HyvedClient } from '../src/client/client.js';
import { HYVED, startDaemon, tempDir, type TestDaemon } from './helpers/daemon.js';
import { guestVm, installGuest, qemuPidsOf } from './helpers/guest.js';

const RUNNING = 6;
const STOPPED = 2;

const daemons: TestDaemon[] = [];
const vmids: string[] = [];
after(async () => {
  await Promise.all(daemons.map((d) => d.stop('SIGKILL')));
  for (const vmid of vmids) for (const pid of await qemuPidsOf(vmid)) process.kill(pid, 'SIGKILL');
});

async function boot(stateDir?: string): Promise<{ d: TestDaemon; c: HyvedClient }> {
  const d = await startDaemon({}, stateDir);
  daemons.push(d);
  const password = (await readFile(path.join(d.stateDir, 'admin-password'), 'utf8')).trim();
  return { d, c: await d.client('admin', password) };
}

async function killWhileAdopting(configFile: string): Promise<void> {
  const proc = spawn(process.execPath, [HYVED, 'serve', '--config', configFile], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no VM re-adopted within 60 s:\n${out}`)), 60_000);
    const onData = (b: Buffer) => {
      out += b;
      if (!out.includes('re-adopted VM')) return;
      clearTimeout(timer);
      proc.kill('SIGKILL');
      resolve();
    };
    proc.stdout!.on('data', onData);
    proc.stderr!.on('data', onData);
  });
  if (proc.exitCode === null && proc.signalCode === null) await new Promise((r) => proc.once('exit', r));
  assert.doesNotMatch(out, /is listening on/, 'killed before it listened, while adopting');
}

type Listed = { vms: { vmid: string; state: string }[] };

test(`re-adoption after SIGKILL loses none of ${RUNNING} running VMs, also when the daemon is killed again while adopting`, async () => {
  const stateDir = await tempDir();
  await installGuest(stateDir);
  let { d, c } = await boot(stateDir);
  // 96 MiB: the test guest's smallest that boots is 84 (test/guest/README.md).
  for (let i = 0; i < RUNNING + STOPPED; i++) vmids.push((await c.call<{ vmid: string }>('sysadm', 'vm', guestVm(`adopt${i}`, { memory_mib: 96 }))).vmid);
  const running = vmids.slice(0, RUNNING);
  const stopped = vmids.slice(RUNNING);
  await Promise.all(running.map((vmid) => c.call('sysadm', 'vm', { action: 'state', vmid, state: 'RUNNING' })));
  const pids = new Map<string, number[]>();
  for (const vmid of running) {
    pids.set(vmid, await qemuPidsOf(vmid));
    assert.equal(pids.get(vmid)!.length, 1, `${vmid}: one QEMU`);
  }

  for (const round of ['after a kill', 'after a kill during the previous restart']) {
    c.close();
    await d.stop('SIGKILL');
    // Killed again as soon as it has adopted the first VM, before it listens: the next start still finds them all.
    if (round.startsWith('after a kill during')) await killWhileAdopting(d.configFile);
    ({ d, c } = await boot(stateDir));
    // The daemon listens only once adoption is over: the first list already tells.
    const { vms } = await c.call<Listed>('sysadm', 'vm', { action: 'list', gid: 'default' });
    const state = new Map(vms.map((v) => [v.vmid, v.state]));
    for (const vmid of running) {
      assert.equal(state.get(vmid), 'RUNNING', `${round}: ${vmid}`);
      assert.deepEqual(await qemuPidsOf(vmid), pids.get(vmid), `${round}: ${vmid} kept its QEMU, no second one`);
    }
    for (const vmid of stopped) {
      assert.equal(state.get(vmid), 'STOPPED', `${round}: ${vmid}`);
      assert.deepEqual(await qemuPidsOf(vmid), [], `${round}: ${vmid} has no QEMU`);
    }
  }

  // Each re-adopted VM is under control again (its QMP socket answers the daemon).
  for (const vmid of running) {
    assert.deepEqual(await c.call('sysadm', 'vm', { action: 'state', vmid, state: 'PAUSED' }), { vmid, state: 'PAUSED' });
    assert.deepEqual(await c.call('sysadm', 'vm', { action: 'state', vmid, state: 'RUNNING' }), { vmid, state: 'RUNNING' });
  }
  await Promise.all(running.map((vmid) => c.call('sysadm', 'vm', { action: 'state', vmid, state: 'STOPPED', force: true })));
  for (const vmid of running) assert.deepEqual(await qemuPidsOf(vmid), [], `${vmid}: stopped`);
  c.close();
  await d.stop();
  await rm(stateDir, { recursive: true, force: true });
});
