import type { DriverCapabilities, VmDefinition } from './types.js';

export type CheckedFields = Partial<Pick<VmDefinition, 'type' | 'media' | 'nics' | 'displays' | 'kernel' | 'initrd' | 'cmdline'>>;

/**
 * What in `def` the hypervisor cannot do, one "field: reason" per problem, fields named as in
 * the create and update arguments (`media/0/mode`); [] when it can do all of it. Only the fields
 * present are judged, so an update answers for what it changes and nothing else.
 */
export function unsupported(hypervisor: string, caps: DriverCapabilities, def: CheckedFields): string[] {
  const the = `the ${hypervisor} hypervisor`;
  const problems: string[] = [];
  if (def.type === 'EFI' && !caps.efi) problems.push(`type: ${the} has no UEFI firmware on this host for EFI guests`);
  const direct = (['kernel', 'initrd', 'cmdline'] as const).find((f) => def[f] !== undefined);
  if (direct && !caps.directBoot) problems.push(`${direct}: ${the} cannot boot a kernel directly, only through firmware`);
  def.media?.forEach((m, i) => {
    if (!caps.mediaModes.includes(m.mode)) problems.push(`media/${i}/mode: ${the} cannot attach ${m.mode} media`);
  });
  def.nics?.forEach((n, i) => {
    if (n.type === 'NAT' && !caps.nat) problems.push(`nics/${i}/type: ${the} has no NAT networking (use a BRIDGE nic)`);
    if (n.type === 'BRIDGE' && !caps.bridge) problems.push(`nics/${i}/type: ${the} cannot join a host bridge on this host`);
  });
  def.displays?.forEach((d, i) => {
    const v = caps.vnc;
    if (!v) problems.push(`displays/${i}: ${the} has no displays`);
    else if (d.width < v.minWidth || d.height < v.minHeight || d.width > v.maxWidth || d.height > v.maxHeight) {
      problems.push(`displays/${i}: ${the} shows ${v.minWidth}x${v.minHeight} to ${v.maxWidth}x${v.maxHeight}, not ${d.width}x${d.height}`);
    }
  });
  return problems;
}
