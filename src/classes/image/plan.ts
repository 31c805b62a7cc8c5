import { badRequest, notAcceptable } from '../../core/errors.js';
import type { OvfDescriptor, OvfSystem } from '../../provision/ovf/descriptor.js';
import type { CheckedImage } from '../../provision/image-store.js';
import { checkVmdk, vmdkInRange } from '../../provision/ovf/qemu-img.js';

const MIB = 2 ** 20;

/** One disc of a VM to deploy: blank, or converted from a VMDK inside the image. */
export interface DiscPlan { label: string; size_mib: number; source: string | null; bytes: number }

export interface VmPlan { name: string; system: OvfSystem; discs: DiscPlan[] }

/** VM names for `count` copies of each system: name, name-2, ...; a collection's systems as name-<system>. */
export function vmNames(base: string, d: OvfDescriptor, count: number): { name: string; system: OvfSystem }[] {
  const out: { name: string; system: OvfSystem }[] = [];
  for (let i = 1; i <= count; i++) {
    for (const system of d.systems) {
      const stem = d.systems.length === 1 ? base : `${base}-${system.name.replace(/[^A-Za-z0-9_.-]/g, '_')}`;
      const name = i === 1 ? stem : `${stem}-${i}`;
      if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/.test(name)) throw badRequest(`name: '${name}' (for system '${system.id}') is not a valid VM name`, [{ path: '/args/name', message: 'too long for the names deploy makes' }]);
      out.push({ name, system });
    }
  }
  return out;
}

/**
 * Where each disc's bytes come from, checked before any VM is made: a referenced file must be in
 * the image, be a single-extent sparse VMDK with no parent (checkVmdk); a disc is as large as the descriptor's
 * capacity or the VMDK's virtual size, whichever is larger.
 */
export async function planDiscs(imgBinary: string, d: OvfDescriptor, system: OvfSystem, image: CheckedImage, signal: AbortSignal): Promise<DiscPlan[]> {
  const out: DiscPlan[] = [];
  for (const [i, disc] of system.discs.entries()) {
    const label = `disk${i}`;
    if (disc.file === null) {
      out.push({ label, size_mib: Math.max(1, Math.ceil(disc.capacity_bytes / MIB)), source: null, bytes: 0 });
      continue;
    }
    const file = d.files.find((f) => f.id === disc.file)!;
    const where = `References/File[${file.id}]`;
    if (file.compression) throw notAcceptable(`${where}: compressed files (${file.compression}) are not supported`);
    const format = d.disks.find((x) => x.id === disc.disk)?.format ?? '';
    if (!/vmdk/i.test(format) && !/\.vmdk$/i.test(file.href)) throw notAcceptable(`${where}: '${file.href}' is not a VMDK (format ${format || 'not given'})`);
    const range = image.sources.get(file.href);
    if (!range) throw badRequest(`${where}/@href: '${file.href}' is not in the image`);
    if (file.size !== null && file.size !== range.size) throw badRequest(`${where}/@size: says ${file.size} bytes, the image holds ${range.size}`);
    const vsize = await checkVmdk(imgBinary, range, signal);
    out.push({ label, size_mib: Math.ceil(Math.max(disc.capacity_bytes, vsize) / MIB), source: vmdkInRange(range), bytes: range.size });
  }
  return out;
}
