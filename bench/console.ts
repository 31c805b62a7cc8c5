/**
 * Serial console: throughput of a guest printing MB megabytes, received by a hyved console viewer
 * and by socat reading the VM's serial socket directly, at the same time (the daemon follows the
 * log file, so both read the same output); then keystroke round-trip (a key typed, its echo back
 * from the guest's tty) through hyved and through socat, one after the other (QEMU's socket takes
 * one client). Ratios side by side in one run.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { startDaemon, tempDir } from '../test/helpers/daemon.js';
import { guestVm, installGuest } from '../test/helpers/guest.js';
import { attach, type ConsoleViewer } from '../test/helpers/console.js';
import { percentile, progress, round, sleep, knob } from './lib.js';

// The guest's UART under TCG manages some tens of KB/s: a few MB already take a minute or more.
const MB = Number(knob('CONSOLE_MB', 2, 0.5));
const KEYS = Number(knob('CONSOLE_KEYS', 200, 50));

/** socat on the serial socket, counting what it prints. */
function socat(socket: string): { proc: ChildProcess; received: () => number; onData: (check: () => boolean) => void } {
  const proc = spawn('socat', ['-', `UNIX-CONNECT:${socket}`], { stdio: ['pipe', 'pipe', 'inherit'] });
  let bytes = 0;
  proc.stdout!.on('data', (d: Buffer) => (bytes += d.length));
  return { proc, received: () => bytes, onData: arrivals((fn) => proc.stdout!.on('data', fn)) };
}

/** Calls every waiting check on each arrival; a check that is satisfied removes itself. */
function arrivals(subscribe: (fn: () => void) => void): (check: () => boolean) => void {
  const checks = new Set<() => boolean>();
  subscribe(() => {
    for (const c of checks) if (c()) checks.delete(c);
  });
  return (check) => {
    if (!check()) checks.add(check);
  };
}

/** Time until `count()` reaches `target`, checked on each arrival. */
function until(count: () => number, target: number, onData: (check: () => boolean) => void, ms: number): Promise<number> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`only ${count()} of ${target} bytes within ${ms} ms`)), ms);
    onData(() => {
      if (count() < target) return false;
      clearTimeout(timer);
      resolve(performance.now() - t0);
      return true;
    });
  });
}

/** Round trips of single keystrokes: send 'x', wait for the echo; Ctrl-U clears the line now and then. */
async function keystrokes(send: (b: Buffer) => void, received: () => number, onData: (check: () => boolean) => void): Promise<number[]> {
  const rtts: number[] = [];
  for (let i = 0; i < KEYS; i++) {
    if (i % 50 === 49) {
      send(Buffer.from([0x15]));
      await sleep(200);
    }
    const before = received();
    const t0 = performance.now();
    send(Buffer.from('x'));
    await until(received, before + 1, onData, 10_000);
    rtts.push(performance.now() - t0);
    await sleep(5);
  }
  send(Buffer.from([0x15]));
  await sleep(200);
  return rtts.sort((a, b) => a - b);
}

// The reference is socat: without it, say so before a daemon and a guest are started for nothing.
await new Promise<void>((resolve, reject) =>
  spawn('socat', ['-V'], { stdio: 'ignore' })
    .on('error', () => reject(new Error('bench console needs socat (apt-get install socat)')))
    .on('exit', () => resolve()),
);
const stateDir = await tempDir('hyved-bench-');
await installGuest(stateDir);
const d = await startDaemon({ log: { level: 'warn' } }, stateDir);
const c = await d.client();
try {
  const { vmid } = await c.call<{ vmid: string }>('sysadm', 'vm', guestVm('conbench'));
  await c.call('sysadm', 'vm', { action: 'state', vmid, state: 'RUNNING' });
  const socket = path.join(stateDir, 'vms', vmid, 'console.sock');
  // Read-only: a writer's input connection would hold QEMU's socket, which takes one client.
  const viewer: ConsoleViewer = await attach(d.url, c, vmid);
  viewer.control({ type: 'replay', since: 0 });
  await viewer.until(/[#$] (\x1b\[6n)?$/, 120_000);
  const direct = socat(socket);
  await sleep(500);

  progress(`throughput: the guest prints ${MB} MB`);
  const size = MB * 1024 * 1024;
  // head -c counts the bytes the guest writes; its tty adds a CR per LF (onlcr), so lines are avoided.
  const start = { hyved: viewer.bytes().length, socat: direct.received() };
  direct.proc.stdin!.write(`head -c ${size} /dev/zero | tr '\\0' x\n`);
  const viewerData = arrivals((fn) => viewer.ws.on('message', fn));
  const [hyvedMs, socatMs] = await Promise.all([
    until(() => viewer.bytes().length - start.hyved, size, viewerData, 1_800_000),
    until(() => direct.received() - start.socat, size, direct.onData, 1_800_000),
  ]);
  await viewer.until(/[#$] (\x1b\[6n)?$/, 30_000, viewer.bytes().length - 64);
  direct.proc.kill();
  await sleep(300);

  progress(`latency: ${KEYS} keystrokes through socat, then through hyved`);
  const s2 = socat(socket);
  await sleep(300);
  const viaSocat = await keystrokes((b) => s2.proc.stdin!.write(b), s2.received, s2.onData);
  s2.proc.kill();
  await sleep(300);
  viewer.ws.close();
  const writer = await attach(d.url, c, vmid, { write: true });
  const viaHyved = await keystrokes((b) => writer.ws.send(b, { binary: true }), () => writer.bytes().length, arrivals((fn) => writer.ws.on('message', fn)));
  writer.ws.close();

  const mibs = (ms: number) => size / 1024 / 1024 / (ms / 1000);
  console.log(JSON.stringify({
    scenario: 'console',
    megabytes: MB,
    hyved_mib_s: round(mibs(hyvedMs)),
    socat_mib_s: round(mibs(socatMs)),
    ratio_throughput_hyved_over_socat: round(socatMs / hyvedMs),
    keystrokes: KEYS,
    hyved_rtt_ms_p50_p99: [round(percentile(viaHyved, 50)), round(percentile(viaHyved, 99))],
    socat_rtt_ms_p50_p99: [round(percentile(viaSocat, 50)), round(percentile(viaSocat, 99))],
    p50_difference_ms: round(percentile(viaHyved, 50) - percentile(viaSocat, 50)),
  }));
  await c.call('sysadm', 'vm', { action: 'state', vmid, state: 'STOPPED', force: true });
} finally {
  c.close();
  await d.stop();
}
