import { Status } from '../../core/action.js';
import { defineAction, type CallContext } from '../context.js';
import { NIC_TYPES, VM_TYPES, type Api } from '../../core/api.gen.js';
import { forbidden, notAcceptable, notFound } from '../../core/errors.js';
import { ALL_GROUPS } from '../../core/permissions.js';
import type { TaskContext } from '../../core/task.js';
import { nameFromUrl } from '../../store/fetch/index.js';
import { downloadIso } from '../../store/iso-download.js';
import { IsoStore } from '../../store/iso-store.js';
import { fetchableUrl } from '../fetch-url.js';
import type { VmDefinition } from '../../hypervisor/types.js';
import { checkDiscFits } from '../../provision/reimage.js';
import { taskKey } from '../../queue/task.js';
import type { Distribution } from '../../store/dist-store.js';
import { queueFor } from '../queued.js';
import { HARDWARE_PROFILES, mediaOf, oneOf } from './describe.js';
import { checkIps, phased, reimageSteps } from './provisioning.js';

type Args = Api['sysadm/vm/create']['args'];

export default defineAction('sysadm/vm/create', {
  permission: 'vm.create',
  scope: 'gid',
  write: true,
  async handler(a, ctx) {
    const { vms, config } = ctx.services;
    const profile = a.hardware_profile === undefined ? undefined : HARDWARE_PROFILES.find((p) => p.name === a.hardware_profile);
    if (a.hardware_profile !== undefined && !profile) throw notFound(`no hardware profile '${a.hardware_profile}'`);
    const cpus = a.cpus ?? profile?.cpus;
    const memory = a.memory_mib ?? profile?.memory_mib;
    if (cpus === undefined || memory === undefined) throw notAcceptable('give cpus and memory_mib, or a hardware_profile');
    // Velocity's rosetta runs x86 Linux binaries on Apple silicon; taking it and storing false would hide that it is not there.
    if (a.rosetta) throw notAcceptable('rosetta: Rosetta is only available on macOS hosts with Apple silicon; send false or leave it out');
    const grades = Object.keys(config.storage_grades);
    const input: Omit<VmDefinition, 'vmid' | 'created'> = {
      name: a.name,
      gid: a.gid,
      type: oneOf(a.type ?? 'EFI', VM_TYPES, 'type'),
      cpus,
      memory_mib: memory,
      displays: a.displays ?? [],
      media: mediaOf(a.media ?? []),
      nics: (a.nics ?? []).map((n, i) => {
        const type = oneOf(n.type, NIC_TYPES, `nics/${i}/type`);
        // Stored explicitly on NAT nics, so a definition shows which network its guest gets.
        const loopback = type === 'NAT' || n.host_loopback !== undefined ? { host_loopback: n.host_loopback ?? false } : {};
        return { type, ...(n.host !== undefined ? { host: n.host } : {}), ...loopback };
      }),
      discs: (a.discs ?? []).map((d) => ({ label: d.label, size_mib: d.size_mib, storage_grade: d.storage_grade ?? grades[0] })),
      autostart: a.autostart ?? false,
      description: a.description ?? '',
      rosetta: false,
      ...(a.kernel !== undefined ? { kernel: a.kernel } : {}),
      ...(a.initrd !== undefined ? { initrd: a.initrd } : {}),
      ...(a.cmdline !== undefined ? { cmdline: a.cmdline } : {}),
      ...(a.ips?.ipv4 || a.ips?.ipv6 ? { ips: a.ips } : {}),
    };
    if (a.reimage === undefined && a.ips === undefined && a.power_on === undefined && a.cdrom_url === undefined) {
      // Velocity's reply is exactly {vmid}: the numeric id is in info and list.
      return { vmid: (await vms.create(input)).vmid };
    }
    return transactional(ctx, a, input);
  },
});

const PHASES = ['cdrom', 'discs', 'image', 'seed', 'boot'];

/**
 * Bytemark's vm_create: checked now (4xx before anything exists), then one task builds it in
 * phases; a failure in any phase removes the VM, its discs, its seed and its IPs with it.
 */
async function transactional(ctx: CallContext, a: Args, input: Omit<VmDefinition, 'vmid' | 'created'>) {
  const { services } = ctx;
  const { vms, config } = services;
  const reimage = a.reimage;
  let dist: Distribution | null = null;
  if (reimage) {
    dist = await services.dists.get(reimage.distribution);
    checkDiscFits(input, dist);
    // The distribution says how it boots.
    input.type = dist.firmware;
  }
  checkIps(input, config.provision.nat_net_prefix);
  const cdrom = a.cdrom_url === undefined ? null : cdromOf(ctx, a.cdrom_url);
  const creation = await vms.prepareCreate(input);
  const { def } = creation;
  const queued = queueFor(ctx, {
    queue: 'sysadm/vm',
    gid: def.gid,
    action: 'create',
    // Never the request's secrets: the command is kept in task history and sent in events.
    command: `vm create ${def.name}${dist ? ` from ${dist.name}` : ''}${cdrom ? ` with CD ${cdrom.name}` : ''}${a.power_on ? ' and power on' : ''}`,
    key: taskKey.vm(def.gid, def.name),
    run: (task) =>
      creation.run(async (b) => {
        const p = phased(task, cdrom ? PHASES : PHASES.slice(1));
        try {
          for (const path of b.paths()) await task.addCleanup(path);
          const media = cdrom ? await fetchCdrom(task, services, cdrom, p.phase) : [];
          p.phase('discs', cdrom ? 5 : 0);
          await b.createDiscs();
          let patch: Partial<VmDefinition> = {};
          let seed = {};
          if (dist && reimage) {
            const done = await reimageSteps(task, b, dist, reimage, services, p.phase);
            ({ patch } = done);
            seed = { instance_id: done.instance_id, hostname: done.hostname };
          }
          await b.save({ ...patch, ...(cdrom ? { media: [...b.def.media, ...media] } : {}) });
          if (a.power_on) {
            p.phase('boot', 90);
            await b.start();
          }
          for (const path of [...b.paths(), b.seedPath, ...(cdrom ? [services.isos.pathOf(cdrom.name)] : [])]) await task.dropCleanup(path);
          return { vmid: def.vmid, name: def.name, num: def.num, ...seed, powered_on: a.power_on === true };
        } catch (err) {
          return p.fail(err);
        }
      }),
    onSettled: async (result) => {
      if (result !== 'success') await creation.abandon();
    },
  });
  return new Status(202, { vmid: def.vmid, num: def.num!, ...queued });
}

/** The ISO a create fetches: the caller must be allowed to fill the shared ISO store. */
function cdromOf(ctx: CallContext, raw: string): { url: URL; name: string } {
  if (!ctx.can('iso.manage', ALL_GROUPS)) throw forbidden('cdrom_url: fetching an ISO needs permission iso.manage');
  const url = fetchableUrl(raw, ctx.services.config.iso.import_dirs, 'cdrom_url');
  return { url, name: IsoStore.check(nameFromUrl(url) ?? '', 'cdrom_url') };
}

/** Phase cdrom: the ISO into the store unless it is there already (then it is shared, never removed by a rollback). */
async function fetchCdrom(task: TaskContext, services: CallContext['services'], cdrom: { url: URL; name: string }, phase: (name: string, percent: number) => void): Promise<VmDefinition['media']> {
  phase('cdrom', 0);
  if (!(await services.isos.exists(cdrom.name))) {
    await task.addCleanup(services.isos.pathOf(cdrom.name));
    await downloadIso(task, services.isos, services.config, cdrom.url, cdrom.name, false);
  }
  return [{ mid: cdrom.name, mode: 'BLOCK', readonly: true }];
}
