import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';

/** Where direct-boot kernels and initrds live: names from requests resolve here only. */
export const BOOT_DIR = path.join('images', 'boot');

/** `<name>-vmlinuz` (with `<name>-initrd.gz` when present) is the bootable image `<name>`. */
const KERNEL = /^([A-Za-z0-9][A-Za-z0-9_.-]{0,99})-vmlinuz$/;

export interface BootImage {
  name: string;
  /** File names inside BOOT_DIR, as a VM definition's `kernel` and `initrd` name them. */
  kernel: string;
  initrd?: string;
  modified: string;
}

const isFile = (file: string) => stat(file).then((s) => (s.isFile() ? s : null), () => null);

/** The direct-boot images in `<stateDir>/images/boot`, by name; none when the directory is missing. */
export async function listBootImages(stateDir: string): Promise<BootImage[]> {
  const dir = path.join(stateDir, BOOT_DIR);
  const names = await readdir(dir).catch(() => [] as string[]);
  const out: BootImage[] = [];
  for (const file of names) {
    const name = KERNEL.exec(file)?.[1];
    if (name === undefined || name.includes('..')) continue;
    const st = await isFile(path.join(dir, file));
    if (!st) continue;
    const initrd = `${name}-initrd.gz`;
    const hasInitrd = (await isFile(path.join(dir, initrd))) !== null;
    out.push({ name, kernel: file, ...(hasInitrd ? { initrd } : {}), modified: st.mtime.toISOString() });
  }
  return out.sort((a, b) => a.name.localeCompare(b.name));
}
