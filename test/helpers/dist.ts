import { execFileSync } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { GUEST_DIR } from './guest.js';

/** What the test distribution's disc holds: a FAT volume (vvfat, as seeds are made) with one file. */
export const DIST_FILE = 'hyved-dist.txt';

/** A raw FAT12 image of a directory holding `files`, labelled `label`, built as DESIGN §7 builds seeds. */
export async function fatImage(out: string, label: string, files: Record<string, string>): Promise<void> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'hyved-fat-'));
  try {
    for (const [name, text] of Object.entries(files)) await writeFile(path.join(dir, name), text);
    execFileSync('qemu-img', ['convert', '-f', 'vvfat', '-O', 'raw', `json:${JSON.stringify({ driver: 'vvfat', dir, label, 'fat-type': 12, floppy: true })}`, out]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * The test distribution, dropped into <state>/images/dist/<name>/ as an operator would: the tiny
 * test guest booted directly (its init reads the NoCloud seed through test/guest/boot.d), and a
 * small FAT disc image its first disc is written from.
 */
export async function installDistribution(stateDir: string, name: string, extra: Record<string, unknown> = {}): Promise<string> {
  const dir = path.join(stateDir, 'images', 'dist', name);
  await mkdir(dir, { recursive: true });
  await copyFile(path.join(GUEST_DIR, 'vmlinuz'), path.join(dir, 'vmlinuz'));
  await copyFile(path.join(GUEST_DIR, 'initrd.gz'), path.join(dir, 'initrd.gz'));
  await fatImage(path.join(dir, 'disk.raw'), 'hyvedroot', { [DIST_FILE]: `distribution ${name}\n` });
  const descriptor = { description: `Test guest '${name}' (busybox, NoCloud stand-in)`, os: 'linux', min_disc_mib: 2, firmware: 'BIOS', kernel: 'vmlinuz', initrd: 'initrd.gz', cmdline: 'console=ttyS0 panic=-1 quiet', ...extra };
  await writeFile(path.join(dir, 'distribution.json'), JSON.stringify(descriptor, null, 2));
  return dir;
}
