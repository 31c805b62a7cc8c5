/**
 * VM start: time from the create+start requests to RUNNING and to the guest's console marker,
 * next to the same guest booted by running qemu directly, in one run, as ratios.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { startDaemon } from '../test/helpers/daemon.js';
import { GUEST_DIR, MARKER, guestVm, installGuest } from '../test/helpers/guest.js';
import { median, timeBoot, type BootTime, knob } from './lib.js';
import { tempDir } from '../test/helpers/daemon.js';

const ROUNDS = Number(knob('ROUNDS', 3, 1));

async function directBoot(): Promise<number> {
  const t0 = performance.now();
  const qemu = spawn('qemu-system-x86_64', [
    '-machine', 'q35,accel=tcg', '-cpu', 'max', '-smp', '1', '-m', '256M', '-nodefaults', '-no-user-config', '-display', 'none',
    '-serial', 'stdio', '-kernel', path.join(GUEST_DIR, 'vmlinuz'), '-initrd', path.join(GUEST_DIR, 'initrd.gz'),
    '-append', 'console=ttyS0 panic=-1 quiet',
  ], { stdio: ['ignore', 'pipe', 'ignore'] });
  let out = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('direct qemu: no marker')), 60_000);
    qemu.stdout.on('data', (d) => {
      out += d;
      if (out.includes(MARKER)) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  const ms = performance.now() - t0;
  qemu.kill('SIGKILL');
  return ms;
}

async function viaHyved(rounds: number): Promise<BootTime[]> {
  const stateDir = await tempDir('hyved-bench-');
  await installGuest(stateDir);
  const d = await startDaemon({ log: { level: 'warn' } }, stateDir);
  const c = await d.client();
  const out: BootTime[] = [];
  try {
    for (let i = 0; i < rounds; i++) {
      out.push(await timeBoot(c, stateDir, guestVm(`bench${i}`), 60_000));
    }
  } finally {
    c.close();
    await d.stop();
  }
  return out;
}


const direct: number[] = [];
const hyved: BootTime[] = [];
// Interleaved, so a noisy neighbour hurts both sides alike.
for (let i = 0; i < ROUNDS; i++) {
  direct.push(await directBoot());
  hyved.push(...(await viaHyved(1)));
}
const d = median(direct);
const h = median(hyved.map((x) => x.marker));
console.log(JSON.stringify({
  scenario: 'vm-start',
  rounds: ROUNDS,
  hyved_to_running_ms: Math.round(median(hyved.map((x) => x.running))),
  hyved_to_marker_ms: Math.round(h),
  qemu_direct_to_marker_ms: Math.round(d),
  ratio_marker_hyved_over_direct: Math.round((h / d) * 100) / 100,
}));
