import { copyFile, mkdir, readFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { ROOT } from './daemon.js';

/**
 * Where test/guest/build.sh leaves the tiny guest (npm test builds it first): `<repo>/.guest`,
 * per checkout because branches build different guests.
 */
export const GUEST_DIR = process.env.HYVED_GUEST_DIR ?? path.join(ROOT, '.guest');
export const MARKER = 'HYVED-GUEST-READY';

/** Puts the guest's kernel and initrd where VM definitions may name them: <state>/images/boot. */
export async function installGuest(stateDir: string): Promise<void> {
  const boot = path.join(stateDir, 'images', 'boot');
  await mkdir(boot, { recursive: true });
  await copyFile(path.join(GUEST_DIR, 'vmlinuz'), path.join(boot, 'vmlinuz'));
  await copyFile(path.join(GUEST_DIR, 'initrd.gz'), path.join(boot, 'initrd.gz'));
}

export const guestVm = (name: string, extra: Record<string, unknown> = {}) => ({
  action: 'create',
  name,
  gid: 'default',
  type: 'BIOS',
  cpus: 1,
  memory_mib: 256,
  kernel: 'vmlinuz',
  initrd: 'initrd.gz',
  cmdline: 'console=ttyS0 panic=-1 quiet',
  ...extra,
});

/** Connects to a VM's serial console socket and resolves with what was read once `pattern` shows. */
export function readConsoleUntil(socketPath: string, pattern: RegExp, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    const sock = net.createConnection(socketPath);
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`console did not show ${pattern} within ${timeoutMs} ms; got:\n${text.slice(-2000)}`));
    }, timeoutMs);
    sock.on('data', (d) => {
      text += d.toString('latin1');
      if (pattern.test(text)) {
        clearTimeout(timer);
        sock.destroy();
        resolve(text);
      }
    });
    sock.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

/** Pids of QEMU processes carrying a VM's process tag, from /proc. */
export async function qemuPidsOf(vmid: string): Promise<number[]> {
  const { readdir } = await import('node:fs/promises');
  const out: number[] = [];
  for (const p of await readdir('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    const cmd = await readFile(`/proc/${p}/cmdline`, 'utf8').catch(() => '');
    if (cmd.includes(`process=hyved-${vmid}`)) out.push(Number(p));
  }
  return out;
}
