import path from 'node:path';
import { Status } from '../../core/action.js';
import { defineAction, type Services } from '../context.js';
import { conflict, notFound } from '../../core/errors.js';
import type { TaskContext } from '../../core/task.js';
import { parseOvf } from '../../provision/ovf/descriptor.js';
import { convertInto } from '../../provision/ovf/qemu-img.js';
import type { ImageRef } from '../../provision/image-store.js';
import { taskKey } from '../../queue/task.js';
import { queueFor } from '../queued.js';
import { IMAGE_QUEUE, imageFor, limitsOf } from './common.js';
import { planDiscs, vmNames, type VmPlan } from './plan.js';
import { checkNetworks, nicsFor } from './networks.js';
import type { Api } from '../../core/api.gen.js';

type Args = Api['sysadm/image/deploy']['args'];

export default defineAction('sysadm/image/deploy', {
  permission: 'vm.create',
  scope: 'gid',
  write: true,
  async handler(a, ctx) {
    const { services } = ctx;
    const { ref } = await imageFor(ctx, a.path, false);
    await services.images.require(ref);
    // Read now so that a bad descriptor, configuration or name is a 4xx reply rather than a failed task.
    const d = parseOvf(await services.images.peekDescriptor(ref), a.configuration === undefined ? {} : { configuration: a.configuration });
    checkNetworks(d, a.networks ?? {}, services.config);
    const names = vmNames(a.name, d, a.count ?? 1);
    for (const { name } of names) if (services.vms.byName(a.gid, name)) throw conflict(`a VM named '${name}' already exists in group '${a.gid}'`, 'name_taken');
    const grade = a.storage_grade ?? Object.keys(services.config.storage_grades)[0];
    if (!Object.hasOwn(services.config.storage_grades, grade)) throw notFound(`storage_grade: no storage grade '${grade}'`);
    const command = `image deploy ${ref.path} as ${names.map((n) => n.name).join(', ')}`;
    const run = (task: TaskContext) => deploy(task, services, ref, a, grade);
    const queued = queueFor(ctx, { queue: IMAGE_QUEUE, gid: a.gid, action: 'deploy', command, key: taskKey.image(ref.path), filename: ref.file, run });
    return new Status(202, { deploy: { ...queued, names: names.map((n) => n.name) } });
  },
});

/**
 * The deploy task: check the image whole (a tampered disc fails here, before anything is made),
 * plan every disc, then make the VMs through the engine and fill their discs straight out of the
 * image. Any failure, a cancel included, deletes every VM this task made.
 */
async function deploy(task: TaskContext, services: Services, ref: ImageRef, a: Args, grade: string): Promise<{ vms: { vmid: string; name: string }[] }> {
  const { images, vms, config } = services;
  task.progress({ description: `checking ${ref.file}`, percent: null });
  const image = await images.check(ref, limitsOf(config), task.signal);
  const d = parseOvf(image.descriptor, a.configuration === undefined ? {} : { configuration: a.configuration });
  const plans: VmPlan[] = [];
  for (const { name, system } of vmNames(a.name, d, a.count ?? 1)) {
    plans.push({ name, system, discs: await planDiscs(config.qemu.img_binary, d, system, image, task.signal) });
  }
  const total = plans.flatMap((p) => p.discs).reduce((n, x) => n + x.bytes, 0);
  let done = 0;
  const made: { vmid: string; name: string }[] = [];
  try {
    for (const p of plans) {
      task.signal.throwIfAborted();
      const def = await vms.create({
        name: p.name,
        gid: a.gid,
        type: a.type ?? p.system.firmware,
        cpus: a.cpus ?? p.system.cpus,
        memory_mib: a.memory_mib ?? p.system.memory_mib,
        displays: [],
        media: [],
        nics: nicsFor(p.system, a.networks ?? {}),
        discs: p.discs.map((x) => ({ label: x.label, size_mib: x.size_mib, storage_grade: grade })),
        autostart: false,
        description: `deployed from ${ref.path}${d.systems.length > 1 ? ` (${p.system.name})` : ''}`,
        rosetta: false,
        ...(a.kernel !== undefined ? { kernel: a.kernel } : {}),
        ...(a.initrd !== undefined ? { initrd: a.initrd } : {}),
        ...(a.cmdline !== undefined ? { cmdline: a.cmdline } : {}),
      });
      made.push({ vmid: def.vmid, name: def.name });
      task.log(`created VM ${def.name} (${def.vmid})`);
      for (const disc of p.discs) {
        if (disc.source === null) continue;
        const target = vms.discPath(def, disc.label, grade);
        const description = `converting ${def.name}/${disc.label}`;
        await convertInto(config.qemu.img_binary, disc.source, 'vmdk', target, path.extname(target).slice(1), (pct) => {
          const bytes = done + (disc.bytes * pct) / 100;
          task.progress({ description, percent: total > 0 ? Math.floor((bytes / total) * 1000) / 10 : null, bytes: Math.round(bytes), total });
        }, task.signal);
        done += disc.bytes;
        task.log(`${def.name}/${disc.label}: ${disc.size_mib} MiB from ${ref.file}`);
      }
    }
    if (a.power_on) for (const m of made) await vms.setState(m.vmid, 'RUNNING', false);
  } catch (err) {
    for (const m of made.reverse()) {
      await vms.delete(m.vmid, true).catch((e: Error) => services.log.error(`deploy of ${ref.path}: cannot remove VM ${m.name} after a failure: ${e.message}`));
    }
    throw err;
  }
  return { vms: made };
}
