/** Every permission a user can hold, globally ("*") or on one group. `admin` implies all. */
export const PERMISSIONS = [
  'vm.view', 'vm.create', 'vm.state', 'vm.delete', 'vm.console.view', 'vm.console.write',
  // Runs any command as root in the guest (its agent): more than vm.state, implied by none.
  'vm.run',
  'nic.list',
  'image.view', 'image.manage', 'iso.manage',
  'task.view', 'task.kill',
  'admin',
] as const;

export type Permission = (typeof PERMISSIONS)[number];

export const ALL_GROUPS = '*';

export const NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_.-]{0,31}$/;

export function isPermission(p: string): p is Permission {
  return (PERMISSIONS as readonly string[]).includes(p);
}

export interface Grants { admin: boolean; perms: Record<string, string[]> }

/** `gid` undefined asks "anywhere" (Velocity's "needs nic.list somewhere"). */
export function holds(grants: Grants, perm: Permission, gid?: string): boolean {
  if (grants.admin) return true;
  const has = (g: string) => Object.hasOwn(grants.perms, g) && grants.perms[g].includes(perm);
  if (has(ALL_GROUPS)) return true;
  if (gid !== undefined) return has(gid);
  return Object.keys(grants.perms).some(has);
}
