/**
 * Provisioning: from a transactional create (distribution + seed + power on) to the firstboot
 * script's marker on the guest's console, through hyved, next to the same steps done by hand
 * (qemu-img convert + resize, a vvfat seed, qemu-system run directly), in one run, as a ratio.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { startDaemon, tempDir } from '../test/helpers/daemon.js';
import { installDistribution } from '../test/helpers/dist.js';
import { waitFor } from '../test/helpers/wait.js';
import { seedFiles, vvfatArgv } from '../src/provision/cloud-init.js';
import { hashPassword } from '../src/provision/sha512-crypt.js';
import { median, knob } from './lib.js';

const ROUNDS = Number(knob('ROUNDS', 3, 1));
const MARKER = 'HYVED-FIRSTBOOT-RAN';
const SCRIPT = `#!/bin/sh\necho ${MARKER}\n`;

async function byHand(distDir: string): Promise<number> {
  const work = await tempDir('hyved-bench-hand-');
  const t0 = performance.now();
  const disc = path.join(work, 'root.qcow2');
  execFileSync('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', path.join(distDir, 'disk.raw'), disc]);
  execFileSync('qemu-img', ['resize', '-q', '-f', 'qcow2', disc, '64M']);
  const seedDir = path.join(work, 'seed');
  await mkdir(seedDir);
  for (const [name, text] of Object.entries(seedFiles({ instanceId: `iid-${Date.now()}`, hostname: 'hand', rootHash: hashPassword('pw'), firstboot: SCRIPT }))) await writeFile(path.join(seedDir, name), text);
  execFileSync('qemu-img', vvfatArgv(seedDir, path.join(work, 'seed.img')));
  const qemu = spawn('qemu-system-x86_64', [
    '-machine', 'q35,accel=tcg', '-cpu', 'max', '-smp', '1', '-m', '256M', '-nodefaults', '-no-user-config', '-display', 'none', '-serial', 'stdio',
    '-drive', `file=${disc},if=none,id=d0,format=qcow2`, '-device', 'virtio-blk-pci,drive=d0',
    '-drive', `file=${path.join(work, 'seed.img')},if=none,id=s,format=raw,readonly=on`, '-device', 'virtio-blk-pci,drive=s',
    '-kernel', path.join(distDir, 'vmlinuz'), '-initrd', path.join(distDir, 'initrd.gz'), '-append', 'console=ttyS0 panic=-1 quiet',
  ], { stdio: ['ignore', 'pipe', 'ignore'] });
  let out = '';
  qemu.stdout.on('data', (d) => (out += d));
  await waitFor(() => out.includes(MARKER), 'the firstboot marker (by hand)', 120_000, 20);
  const ms = performance.now() - t0;
  qemu.kill('SIGKILL');
  await rm(work, { recursive: true, force: true });
  return ms;
}

async function viaHyved(stateDir: string, round: number): Promise<number> {
  const d = await startDaemon({ log: { level: 'warn' } }, stateDir);
  const c = await d.client();
  try {
    const t0 = performance.now();
    const { vmid } = await c.call<{ vmid: string }>('sysadm', 'vm', {
      action: 'create', name: `bench${round}`, gid: 'default', cpus: 1, memory_mib: 256,
      discs: [{ label: 'root', size_mib: 64 }], reimage: { distribution: 'bench', root_password: 'pw', firstboot_script: SCRIPT }, power_on: true,
    });
    // The serial output as the daemon keeps it (segment files under vms/<vmid>/console/).
    const printed = async () => (await c.call<{ data: string }>('sysadm', 'console', { action: 'log', vmid, since: 0, limit: 1 << 20 })).data;
    await waitFor(async () => (await printed()).includes(MARKER), 'the firstboot marker (hyved)', 120_000, 20);
    const ms = performance.now() - t0;
    await c.call('sysadm', 'vm', { action: 'delete', vmid, force: true });
    return ms;
  } finally {
    c.close();
    await d.stop();
  }
}


const stateDir = await tempDir('hyved-bench-');
const distDir = await installDistribution(stateDir, 'bench');
const hand: number[] = [];
const hyved: number[] = [];
// Interleaved, so a noisy neighbour hurts both sides alike.
for (let i = 0; i < ROUNDS; i++) {
  hand.push(await byHand(distDir));
  hyved.push(await viaHyved(stateDir, i));
}
const h = median(hyved);
const b = median(hand);
console.log(JSON.stringify({
  scenario: 'provision',
  rounds: ROUNDS,
  hyved_create_to_firstboot_ms: Math.round(h),
  by_hand_to_firstboot_ms: Math.round(b),
  ratio_hyved_over_by_hand: Math.round((h / b) * 100) / 100,
}));
