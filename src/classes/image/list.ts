import { defineAction } from '../context.js';
import { RpcError } from '../../core/errors.js';
import { parseOvf } from '../../provision/ovf/descriptor.js';
import { canView } from './common.js';
import { ImageStore, type ImageEntry } from '../../provision/image-store.js';
import type { Services } from '../context.js';

/** What the descriptor says, for a listing; a descriptor that cannot be read is reported, not hidden. */
async function summary(services: Services, e: ImageEntry) {
  try {
    const d = parseOvf(await services.images.peekDescriptor(ImageStore.parse(e.path)));
    const first = d.systems[0];
    return {
      ...e,
      os: first.os,
      cpus: first.cpus,
      memory_mib: first.memory_mib,
      firmware: first.firmware,
      systems: d.systems.length,
      discs: d.systems.flatMap((s) => s.discs.map((x) => ({ capacity_bytes: x.capacity_bytes }))),
    };
  } catch (err) {
    return { ...e, error: err instanceof RpcError ? err.message : `cannot read: ${(err as Error).message}` };
  }
}

export default defineAction('sysadm/image/list', {
  permission: 'image.view',
  async handler({ sort = 'name', name }, ctx) {
    const { images, config } = ctx.services;
    const needle = name?.toLowerCase();
    const visible: ImageEntry[] = [];
    for (const e of await images.list()) {
      if (needle !== undefined && !e.name.toLowerCase().includes(needle)) continue;
      if (canView(ctx, await images.groupOf(ImageStore.parse(e.path), config.groups))) visible.push(e);
    }
    visible.sort((a, b) => a[sort].localeCompare(b[sort]) || a.path.localeCompare(b.path));
    return { images: await Promise.all(visible.map((e) => summary(ctx.services, e))) };
  },
});
