import { badRequest } from '../../core/errors.js';
import { HARDWARE_PROFILE } from './render.js';

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Bytemark's names for hyved's fields, both ways: requests in, error paths out. */
const VM_FIELDS: Record<string, string> = { name: 'name', cores: 'cpus', memory: 'memory_mib' };
/** Accepted and not stored: hyved has one behaviour for each. */
const VM_IGNORED = new Set(['autoreboot_on', 'keymap', 'hardware_profile_locked', 'type', 'id', 'group_id', 'deleted', 'head', 'hostname', 'management_address']);
const PROFILES = new Set([HARDWARE_PROFILE, 'virtio2013', 'compatibility2013']);

function need(obj: unknown, where: string): Json {
  if (!isObject(obj)) throw badRequest(`${where || 'the body'} must be a JSON object`, [{ path: where || '/', message: 'must be object' }]);
  return obj;
}

/**
 * vm_create's body as the seed writes it → sysadm/vm create's args. Unknown fields are a 400
 * naming them; types and ranges are left to the action's schema (its error paths are mapped back).
 */
export function toCreateArgs(body: unknown, gid: string): { args: Json; reimageEcho: Json | null; cdromUrl: string | null } {
  const b = need(body, '');
  for (const k of Object.keys(b)) if (!['virtual_machine', 'discs', 'reimage', 'ips'].includes(k)) throw badRequest(`unknown field '${k}'`, [{ path: `/${k}`, message: 'is not a vm_create field' }]);
  const vm = need(b.virtual_machine, '/virtual_machine');
  // Bytemark powers a new machine on unless told not to: clients poll power_on for it.
  const args: Json = { action: 'create', gid, type: 'BIOS', nics: [{ type: 'NAT' }], power_on: true };
  let cdromUrl: string | null = null;
  for (const [k, v] of Object.entries(vm)) {
    if (Object.hasOwn(VM_FIELDS, k)) args[VM_FIELDS[k]] = v;
    else if (k === 'power_on') args.power_on = v;
    else if (k === 'cdrom_url') {
      if (v !== null) args.cdrom_url = cdromUrl = v as string;
    } else if (k === 'hardware_profile') {
      if (v !== null && !PROFILES.has(v as string)) throw badRequest(`virtual_machine/hardware_profile: '${String(v)}' is not one of ${[...PROFILES].join(', ')}`, [{ path: '/virtual_machine/hardware_profile', message: 'unknown hardware profile' }]);
    } else if (!VM_IGNORED.has(k)) throw badRequest(`unknown field 'virtual_machine/${k}'`, [{ path: `/virtual_machine/${k}`, message: 'is not a virtual machine field' }]);
  }
  if (b.discs !== undefined) {
    if (!Array.isArray(b.discs)) throw badRequest('discs must be an array', [{ path: '/discs', message: 'must be array' }]);
    args.discs = b.discs.map((d, i) => {
      const disc = need(d, `/discs/${i}`);
      const { label, size, storage_grade, ...rest } = disc;
      for (const k of Object.keys(rest)) if (!['type', 'id', 'virtual_machine_id', 'storage_pool'].includes(k)) throw badRequest(`unknown field 'discs/${i}/${k}'`, [{ path: `/discs/${i}/${k}`, message: 'is not a disc field' }]);
      return { label, size_mib: size, ...(storage_grade !== undefined ? { storage_grade } : {}) };
    });
  }
  let reimageEcho: Json | null = null;
  if (b.reimage !== undefined) {
    const r = need(b.reimage, '/reimage');
    args.reimage = r;
    reimageEcho = { ...r };
  }
  if (b.ips !== undefined) args.ips = need(b.ips, '/ips');
  return { args, reimageEcho, cdromUrl };
}

const BACK: [RegExp, string][] = [
  [/^\/args\/cpus/, '/virtual_machine/cores'],
  [/^\/args\/memory_mib/, '/virtual_machine/memory'],
  [/^\/args\/name/, '/virtual_machine/name'],
  [/^\/args\/power_on/, '/virtual_machine/power_on'],
  [/^\/args\/cdrom_url/, '/virtual_machine/cdrom_url'],
  [/^\/args\/discs\/(\d+)\/size_mib/, '/discs/$1/size'],
  [/^\/args\//, '/'],
];

/** An error reply's details with paths in the request's own (Bytemark) terms. */
export function toBytemarkDetails(args: unknown): unknown {
  if (!isObject(args) || !Array.isArray(args.details)) return args;
  return {
    ...args,
    details: args.details.map((d) => {
      if (!isObject(d) || typeof d.path !== 'string') return d;
      const hit = BACK.find(([re]) => re.test(d.path as string));
      return hit ? { ...d, path: (d.path as string).replace(hit[0], hit[1]) } : d;
    }),
  };
}
