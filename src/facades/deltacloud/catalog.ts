import { badRequest } from '../../core/errors.js';

/**
 * What an instance can be created from and with: Deltacloud's images and hardware profiles over
 * what hyved offers (`dist list`, `image bootable`, `vm definitions`). The mapping from an image
 * to the fields of a VM definition lives here, in `definitionFor`, and nowhere else: an OVA/OVF
 * image plugs in beside the kinds below.
 */

export const ARCHITECTURE = 'x86_64';
// The host's stores are shared by every group: their images belong to the daemon.
export const IMAGE_OWNER = 'hyved';

interface Bootable {
  kernels: { name: string; kernel: string; initrd?: string; modified: string }[];
  isos: { name: string; size: number; modified: string }[];
}

/** What `sysadm/dist list` says of a distribution, as far as an image needs it. */
export interface DistInfo { name: string; description: string; os: string; min_disc_mib: number; format: 'qcow2' | 'raw'; size: number }

export type DcImage =
  | { kind: 'dist'; id: string; description: string; created?: undefined; os: string; disc_mib: number }
  | { kind: 'kernel'; id: string; description: string; created: string; kernel: string; initrd?: string }
  | { kind: 'iso'; id: string; description: string; created: string; iso: string };

// Ids appear in URLs and must stay in [A-Za-z0-9_.-]: a distribution or ISO named with '+' is not offered.
const URL_SAFE = /^[A-Za-z0-9_.-]+$/;
const MIB = 1048576;

/**
 * Distributions first (written onto a disc, provisioned through a cloud-init seed), then the
 * direct-boot kernels, then the install ISOs; an id already taken by an earlier kind is not offered again.
 */
export function imagesOf(b: Bootable, dists: DistInfo[]): DcImage[] {
  const images: DcImage[] = dists
    .filter((d) => URL_SAFE.test(d.name))
    .map((d) => ({
      kind: 'dist',
      id: d.name,
      description: `${d.description || `distribution ${d.name}`} (${d.os} distribution, provisioned by cloud-init)`,
      os: d.os,
      // A raw image is as large as its file; a qcow2 one says its size in its header, which min_disc_mib must cover.
      disc_mib: Math.max(1, d.min_disc_mib, d.format === 'raw' ? Math.ceil(d.size / MIB) : 0),
    }));
  const add = (more: DcImage[]) => {
    const taken = new Set(images.map((i) => i.id));
    images.push(...more.filter((i) => URL_SAFE.test(i.id) && !taken.has(i.id)));
  };
  add(b.kernels.map((k) => ({
    kind: 'kernel',
    id: k.name,
    description: `direct-boot kernel ${k.kernel}${k.initrd ? ` with ${k.initrd}` : ''}`,
    created: k.modified,
    kernel: k.kernel,
    ...(k.initrd ? { initrd: k.initrd } : {}),
  })));
  add(b.isos.map((i) => ({ kind: 'iso', id: i.name, description: `install ISO ${i.name} (${Math.round(i.size / MIB)} MiB)`, created: i.modified, iso: i.name })));
  return images;
}

/**
 * What a create asks to have set up inside the guest (Deltacloud's keyname, password and
 * user_data): only a distribution's cloud-init seed can carry it. Secrets: never logged or kept.
 */
export interface GuestSetup {
  key?: { name: string; public_key: string };
  password?: string;
  /** user_data, decoded: the firstboot script. */
  script?: string;
}

/** The kernel command line of a direct-boot image: its console on the serial port, which hyved records. */
const CMDLINE = 'console=ttyS0 panic=-1';
// An installer needs a disc to install onto.
const ISO_DISC_GB = 8;

export interface Size { cpus: number; memory_mib: number; storage_gb: number }

/** The fields of `sysadm/vm create` that booting `image` at `size`, set up as `setup` asks, needs. */
export function definitionFor(image: DcImage, size: Size, setup: GuestSetup = {}): Record<string, unknown> {
  const disc = (mib: number) => (mib > 0 ? [{ label: 'disk0', size_mib: mib }] : []);
  const common = { type: 'BIOS', cpus: size.cpus, memory_mib: size.memory_mib, nics: [{ type: 'NAT' }] };
  if (image.kind !== 'dist') {
    const asked = (['key', 'password', 'script'] as const).find((k) => setup[k] !== undefined);
    if (asked) {
      const field = { key: 'keyname', password: 'password', script: 'user_data' }[asked];
      throw badRequest(`${field}: image '${image.id}' is a ${image.kind === 'kernel' ? 'direct-boot kernel' : 'install ISO'} with no cloud-init seed; only distribution images take keyname, password or user_data`, [{ path: `/${field}`, message: 'needs a distribution image' }]);
    }
  }
  switch (image.kind) {
    case 'dist': {
      // The profile's storage, else the smallest disc the distribution fits on.
      const mib = size.storage_gb > 0 ? size.storage_gb * 1024 : image.disc_mib;
      if (mib < image.disc_mib) throw badRequest(`hwp_storage: ${size.storage_gb} GB is smaller than image '${image.id}' needs (${image.disc_mib} MiB)`, [{ path: '/hwp_storage', message: `must hold ${image.disc_mib} MiB` }]);
      const reimage = {
        distribution: image.id,
        ...(setup.password !== undefined ? { root_password: setup.password } : {}),
        ...(setup.key ? { ssh_public_key: setup.key.public_key } : {}),
        ...(setup.script !== undefined ? { firstboot_script: setup.script } : {}),
      };
      // One task builds, writes, seeds and boots it, or leaves nothing behind.
      return { ...common, discs: disc(mib), reimage, power_on: true };
    }
    case 'kernel':
      return { ...common, kernel: image.kernel, ...(image.initrd ? { initrd: image.initrd } : {}), cmdline: CMDLINE, discs: disc(size.storage_gb * 1024) };
    case 'iso':
      return { ...common, media: [{ mid: image.iso, mode: 'BLOCK' }], discs: disc((size.storage_gb || ISO_DISC_GB) * 1024) };
  }
}

/** The image an existing VM was made from, read back from its definition (`definitionFor` in reverse). */
export function imageIdOf(vm: { distribution?: string; kernel?: string; media: { mid: string }[] }): string {
  if (vm.distribution) return vm.distribution;
  const kernel = /^(.+)-vmlinuz$/.exec(vm.kernel ?? '')?.[1];
  if (kernel) return kernel;
  if (vm.kernel) return vm.kernel.replace(/[^A-Za-z0-9_.-]/g, '_');
  return vm.media[0]?.mid.replace(/[^A-Za-z0-9_.-]/g, '_') ?? 'none';
}

export type PropertyKind = 'fixed' | 'range' | 'enum';
export interface Property {
  name: 'cpu' | 'memory' | 'storage' | 'architecture';
  kind: PropertyKind;
  unit: string;
  value: number | string;
  range?: { first: number; last: number };
  values?: number[];
}
export interface Profile { id: string; properties: Property[] }

export const UNIT = { cpu: 'count', memory: 'MB', storage: 'GB', architecture: 'label' } as const;

const storage: Property = { name: 'storage', kind: 'range', unit: UNIT.storage, value: 0, range: { first: 0, last: 1024 } };
const arch: Property = { name: 'architecture', kind: 'fixed', unit: UNIT.architecture, value: ARCHITECTURE };

/** The name of the profile whose values the caller chooses within bounds. */
export const CUSTOM = 'custom';

/** hyved's named sizes as fixed profiles, and `custom`: a cpu enum and memory and storage ranges. */
export function profilesOf(named: { name: string; cpus: number; memory_mib: number }[]): Profile[] {
  return [
    ...named.map((p) => ({
      id: p.name,
      properties: [
        { name: 'cpu', kind: 'fixed', unit: UNIT.cpu, value: p.cpus } as Property,
        { name: 'memory', kind: 'fixed', unit: UNIT.memory, value: p.memory_mib } as Property,
        storage,
        arch,
      ],
    })),
    {
      id: CUSTOM,
      properties: [
        { name: 'cpu', kind: 'enum', unit: UNIT.cpu, value: 1, values: [1, 2, 4, 8, 16] },
        { name: 'memory', kind: 'range', unit: UNIT.memory, value: 512, range: { first: 128, last: 65536 } },
        storage,
        arch,
      ],
    },
  ];
}

/**
 * The size a create asks for: the profile's values, with `hwp_<property>` choosing within a range
 * or an enum. As in Deltacloud, a value given for a fixed property is ignored (its HTML form sends
 * every profile's fields); one outside a range or enum is a 400 naming it.
 */
export function sizeFrom(profile: Profile, params: Record<string, string>): Size {
  const pick = (name: Property['name']): number => {
    const prop = profile.properties.find((p) => p.name === name)!;
    const raw = params[`hwp_${name}`];
    if (raw === undefined || raw === '' || prop.kind === 'fixed') return Number(prop.value);
    const field = `hwp_${name}`;
    if (!/^\d{1,9}$/.test(raw)) throw badRequest(`${field}: '${raw.slice(0, 40)}' is not a whole number`, [{ path: `/${field}`, message: 'must be a whole number' }]);
    const v = Number(raw);
    const ok = prop.kind === 'range' ? v >= prop.range!.first && v <= prop.range!.last : prop.values!.includes(v);
    const allowed = prop.kind === 'range' ? `${prop.range!.first}..${prop.range!.last}` : prop.values!.join(', ');
    if (!ok) throw badRequest(`${field}: ${v} ${prop.unit} is not within ${allowed} for hardware profile ${profile.id}`, [{ path: `/${field}`, message: `must be within ${allowed}` }]);
    return v;
  };
  return { cpus: pick('cpu'), memory_mib: pick('memory'), storage_gb: pick('storage') };
}

/** The profile an existing VM shows: its named size, else `custom` with its values as overrides. */
export function profileOf(vm: { hardware_profile: string; cpus: number; memory_mib: number; discs: { size_mib: number }[] }): { id: string; overrides: [Property['name'], number][] } {
  const overrides: [Property['name'], number][] = vm.hardware_profile === CUSTOM || vm.hardware_profile === '' ? [['cpu', vm.cpus], ['memory', vm.memory_mib]] : [];
  if (vm.discs.length > 0) overrides.push(['storage', Math.round(vm.discs[0].size_mib / 1024)]);
  return { id: vm.hardware_profile || CUSTOM, overrides };
}
