/**
 * Many running guests (GUESTS tiny guests of 96 MiB under TCG): `vm list` latency while they run,
 * the daemon's CPU per second with them up (what watching them costs: QMP sockets, which QEMU
 * pushes events on, nothing polled), then the daemon SIGKILLed and started again on the same
 * state dir: the time until every guest reads RUNNING again, with the same QEMU processes. A
 * subscriber counts the `vm` events: each state change of each VM exactly once.
 * The daemon's CPU is read twice: with a console viewer (WebSocket) on every guest, then without.
 * Every figure comes with the load average it was taken at: this machine is shared.
 */
import { spawn } from 'node:child_process';
import os from 'node:os';
import { rm } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import { HYVED, startDaemon, tempDir, type TestDaemon } from '../test/helpers/daemon.js';
import { MARKER, guestVm, installGuest, qemuPidsOf } from '../test/helpers/guest.js';
import { attach } from '../test/helpers/console.js';
import { HyvedClient } from '../src/client/client.js';
import { RawConn, cpuMs, percentile, progress, round, sleep, knob } from './lib.js';

const GUESTS = Number(knob('GUESTS', 30, 5));
// The test guest's smallest that boots is 84 MiB (test/guest/README.md); below, its kernel panics and reboots in a loop.
const MEMORY_MIB = 96;
const IDLE_WINDOW_MS = 10_000;
const BOOT_TIMEOUT_MS = 600_000;

type VmEvent = { vmid: string; state: string; previous: string | null };
type ListReply = { vms: { vmid: string; state: string }[] };

async function signIn(url: string, password: string): Promise<RawConn> {
  const c = await RawConn.open(url);
  await c.call('rpc', 'auth', { username: 'admin', password });
  return c;
}

/** The daemon's CPU over IDLE_WINDOW_MS as % of a core, and the load average meanwhile. */
async function cpuOver(pid: number): Promise<{ pct: number; load: number }> {
  const cpu0 = await cpuMs(pid);
  await sleep(IDLE_WINDOW_MS);
  return { pct: round((((await cpuMs(pid)) - cpu0) / IDLE_WINDOW_MS) * 100, 2), load: round(os.loadavg()[0], 1) };
}

async function listTimes(c: RawConn, n: number): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await c.call('sysadm', 'vm', { action: 'list', gid: 'default' });
    times.push(performance.now() - t0);
  }
  return times.sort((a, b) => a - b);
}

const stateDir = await tempDir('hyved-bench-guests-');
await installGuest(stateDir);
let d: TestDaemon | null = await startDaemon({ log: { level: 'warn' }, validate_results: false }, stateDir);
const password = d.adminPassword;
let restarted: ReturnType<typeof spawn> | null = null;
const vmids: string[] = [];
try {
  const c = await signIn(d.url, password);
  const watcher = await signIn(d.url, password);
  const events: VmEvent[] = [];
  watcher.onOther = (text) => {
    const msg = JSON.parse(text) as { namespace: string; name: string; args: VmEvent };
    if (msg.namespace === 'events' && msg.name === 'vm') events.push(msg.args);
  };
  await watcher.call('events', 'subscribe', ['vm']);

  progress(`guests: starting ${GUESTS}`);
  const tStart = performance.now();
  for (let i = 0; i < GUESTS; i++) {
    const { vmid } = await c.call<{ vmid: string }>('sysadm', 'vm', guestVm(`g${i}`, { memory_mib: MEMORY_MIB }));
    vmids.push(vmid);
    await c.call('sysadm', 'vm', { action: 'state', vmid, state: 'RUNNING' });
  }
  const pidsBefore = new Map<string, number[]>();
  for (const vmid of vmids) pidsBefore.set(vmid, await qemuPidsOf(vmid));
  // A console viewer on each, which also tells when each guest has booted: what is measured next
  // is the daemon watching them, not their start.
  const client = await HyvedClient.connect(d.url);
  await client.login('admin', password);
  const viewers = await Promise.all(vmids.map((vmid) => attach(d!.url, client, vmid)));
  // From the start of each log: a guest that booted before its viewer came printed its marker already.
  for (const v of viewers) v.control({ type: 'replay', since: 0 });
  await Promise.all(viewers.map((v) => v.until(new RegExp(MARKER), BOOT_TIMEOUT_MS)));
  const booted = performance.now() - tStart;
  progress(`guests: all ${GUESTS} booted ${Math.round(booted / 1000)} s after the first create; load average ${os.loadavg()[0].toFixed(1)}`);
  await sleep(5_000);

  const pid = d.proc.pid!;
  const viewersCpu = await cpuOver(pid);
  progress(`guests: daemon CPU ${viewersCpu.pct}% of a core with ${GUESTS} running, a console viewer on each (load ${viewersCpu.load})`);
  for (const v of viewers) v.ws.close();
  client.close();
  await sleep(2_000);
  const idleCpu = await cpuOver(pid);
  const loadList = os.loadavg()[0];
  const list = await listTimes(c, 200);
  progress(`guests: daemon CPU ${idleCpu.pct}% of a core with ${GUESTS} running (load ${idleCpu.load}); vm list p99 ${round(percentile(list, 99), 2)} ms`);

  const expected = ['STOPPED', 'STARTING', 'RUNNING'];
  const byVm = new Map<string, string[]>();
  for (const e of events) byVm.set(e.vmid, [...(byVm.get(e.vmid) ?? []), e.state]);
  const eventsExact = vmids.every((v) => JSON.stringify(byVm.get(v)) === JSON.stringify(expected));
  c.close();
  watcher.close();

  progress('guests: SIGKILL to the daemon, then a new one on the same state dir');
  const loadReadopt = os.loadavg()[0];
  await d.stop('SIGKILL');
  d = null;
  const t0 = performance.now();
  restarted = spawn(process.execPath, [HYVED, 'serve', '--config', `${stateDir}/test-config.json`], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  restarted.stdout!.on('data', (b) => (out += b));
  restarted.stderr!.on('data', (b) => (out += b));
  while (!/is listening on (\S+)/.test(out)) {
    if (restarted.exitCode !== null) throw new Error(`restart failed: ${out}`);
    await sleep(5);
  }
  const listeningMs = performance.now() - t0;
  const url = /is listening on (\S+)/.exec(out)![1];
  const c2 = await signIn(url, password);
  let readopted = 0;
  for (;;) {
    const { vms } = await c2.call<ListReply>('sysadm', 'vm', { action: 'list', gid: 'default' });
    readopted = vms.filter((v) => v.state === 'RUNNING').length;
    if (readopted === GUESTS || performance.now() - t0 > 60_000) break;
    await sleep(20);
  }
  const readoptMs = performance.now() - t0;
  if (process.env.DEBUG) process.stderr.write(out);
  let samePids = true;
  for (const vmid of vmids) if (JSON.stringify(await qemuPidsOf(vmid)) !== JSON.stringify(pidsBefore.get(vmid))) samePids = false;

  console.log(JSON.stringify({
    scenario: 'guests',
    guests: GUESTS,
    memory_mib_each: MEMORY_MIB,
    booted_s: Math.round(booted / 1000),
    daemon_cpu_pct_of_core_idle: idleCpu.pct,
    load_idle: idleCpu.load,
    daemon_cpu_pct_of_core_a_viewer_each: viewersCpu.pct,
    load_viewers: viewersCpu.load,
    target_cpu_pct: 2,
    vm_list_p50_ms: round(percentile(list, 50), 2),
    vm_list_p99_ms: round(percentile(list, 99), 2),
    load_list: round(loadList, 1),
    each_state_change_delivered_once: eventsExact,
    restart_to_listening_ms: Math.round(listeningMs),
    readopt_after_sigkill_ms: Math.round(readoptMs),
    load_readopt: round(loadReadopt, 1),
    target_readopt_ms: 3000,
    readopted,
    same_qemu_processes: samePids,
  }));
  for (const vmid of vmids) await c2.call('sysadm', 'vm', { action: 'delete', vmid, force: true });
  c2.close();
} finally {
  await d?.stop();
  if (restarted && restarted.exitCode === null) {
    restarted.kill('SIGTERM');
    await new Promise((r) => restarted!.once('exit', r));
  }
  // Whatever is left (a failed run): no QEMU outlives the bench.
  for (const vmid of vmids) for (const p of await qemuPidsOf(vmid)) process.kill(p, 'SIGKILL');
  await rm(stateDir, { recursive: true, force: true });
}
process.exit(0);
