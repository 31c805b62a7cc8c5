import { mkdir, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Status } from '../../core/action.js';
import { defineAction, type Services } from '../context.js';
import { conflict, forbidden } from '../../core/errors.js';
import type { TaskContext } from '../../core/task.js';
import { buildOvf } from '../../provision/ovf/build.js';
import { formatManifest } from '../../provision/ovf/manifest.js';
import { sha256File, writeOvaFile } from '../../provision/ovf/pack.js';
import { exportVmdk } from '../../provision/ovf/qemu-img.js';
import { ImageStore, type ImageRef } from '../../provision/image-store.js';
import type { VmDefinition } from '../../hypervisor/types.js';
import { taskKey } from '../../queue/task.js';
import { queueFor } from '../queued.js';
import { IMAGE_QUEUE, limitsOf } from './common.js';

export default defineAction('sysadm/image/export', {
  permission: 'vm.view',
  scope: 'vmid',
  write: true,
  async handler({ vmid, name, format = 'ova', overwrite = false }, ctx) {
    const { vms, images, tasks } = ctx.services;
    const rt = vms.get(vmid);
    if (!ctx.can('image.manage', rt.def.gid)) throw forbidden(`exporting needs image.manage on group '${rt.def.gid}'`);
    if (rt.state !== 'STOPPED') throw conflict(`VM '${rt.def.name}' is ${rt.state}: stop it before exporting`);
    // VSS's exports live in a folder named after the VM: <vmid>/<name>.ovf.
    const ref = ImageStore.parse(`${vmid}/${name ?? rt.def.name}.${format}`, 'name');
    if (!overwrite && (await images.exists(ref))) throw conflict(`image '${ref.path}' already exists (set overwrite to replace it)`, 'name_taken');
    const busy = tasks.activeWithKey(taskKey.image(ref.path));
    if (busy) throw conflict(`image '${ref.path}' is in use by task ${busy.id}`, 'busy');
    const def = structuredClone(rt.def);
    const run = (task: TaskContext) => exportVm(task, ctx.services, def, ref, overwrite);
    const queued = queueFor(ctx, { queue: IMAGE_QUEUE, gid: def.gid, action: 'export', command: `image export ${def.name} to ${ref.path}`, key: taskKey.image(ref.path), filename: ref.file, run });
    return new Status(202, { export: { ...queued, path: ref.path } });
  },
});

/**
 * The export task: each disc as a streamOptimized VMDK (qemu-img opens the disc read-only with
 * QEMU's image lock, so a start meanwhile fails rather than changing the disc under it), an OVF 1.0
 * descriptor and a SHA256 manifest, put together in a hidden folder and placed in the store whole.
 */
async function exportVm(task: TaskContext, services: Services, def: VmDefinition, ref: ImageRef, overwrite: boolean): Promise<{ path: string }> {
  const { images, vms, config } = services;
  const folder = path.join(images.dir, ref.folder);
  // A folder this export makes goes again if it fails; one holding earlier exports stays.
  const fresh = !(await stat(folder).then(() => true, () => false));
  if (fresh) await task.addCleanup(folder);
  await images.markGroup(ref.folder, def.gid);
  const work = path.join(folder, `.export-${task.id.replace(/[^A-Za-z0-9_-]/g, '_')}`);
  await task.addCleanup(work);
  await mkdir(work, { mode: 0o700 });
  const base = ref.file.replace(/\.(ova|ovf)$/, '');
  const discs: { href: string; size: number; capacity_bytes: number; file: string }[] = [];
  for (const [i, disc] of def.discs.entries()) {
    const source = vms.discPath(def, disc.label, disc.storage_grade);
    const href = `${base}-disk${i + 1}.vmdk`;
    const file = path.join(work, href);
    await exportVmdk(config.qemu.img_binary, source, path.extname(source).slice(1), file, (pct) => {
      task.progress({ description: `exporting ${def.name}/${disc.label}`, percent: Math.floor(((i + pct / 100) / def.discs.length) * 1000) / 10 });
    }, task.signal);
    discs.push({ href, size: (await stat(file)).size, capacity_bytes: disc.size_mib * 2 ** 20, file });
  }
  task.progress({ description: `writing ${ref.file}`, percent: null });
  const ovfName = `${base}.ovf`;
  const ovf = path.join(work, ovfName);
  await writeFile(ovf, buildOvf({ name: def.name, cpus: def.cpus, memory_mib: def.memory_mib, firmware: def.type, discs, nics: def.nics.length }));
  const mfName = `${base}.mf`;
  const mf = path.join(work, mfName);
  const digests = [{ file: ovfName, sha256: await sha256File(ovf, task.signal) }];
  for (const d of discs) digests.push({ file: d.href, sha256: await sha256File(d.file, task.signal) });
  await writeFile(mf, formatManifest(digests));
  const members = [{ name: ovfName, file: ovf }, { name: mfName, file: mf }, ...discs.map((d) => ({ name: d.href, file: d.file }))];
  if (ref.format === 'ova') {
    const temp = path.join(work, ref.file);
    await writeOvaFile(temp, members, task.signal);
    await images.commitOva(temp, ref, overwrite, limitsOf(config), task.signal);
  } else {
    // The descriptor goes last, so the image never shows half made.
    await images.commitFolder(ref, [...members.slice(1).map((m) => ({ temp: m.file, name: m.name })), { temp: ovf, name: ovfName }], overwrite);
  }
  if (fresh) await task.dropCleanup(folder);
  task.log(`exported ${def.name} (${def.discs.length} discs) to ${ref.path}`);
  return { path: ref.path };
}
