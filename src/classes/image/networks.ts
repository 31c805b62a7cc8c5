import type { Config } from '../../core/config.js';
import { badRequest } from '../../core/errors.js';
import { checkBridgeNic } from '../../hypervisor/nic-spec.js';
import type { Nic } from '../../core/api.gen.js';
import type { OvfDescriptor, OvfSystem } from '../../provision/ovf/descriptor.js';

/** What `deploy` takes per OVF network: a nic as `sysadm/vm create` takes it. */
export interface NicSpec { type: 'NAT' | 'BRIDGE'; host?: string; host_loopback?: boolean }

export interface OvfNetwork { name: string; listed: boolean; connected: { system: string; nic: string }[] }

/**
 * The descriptor's networks (its NetworkSection, then any an item connects to without it being
 * listed there) and the NIC items of each system that connect to each.
 */
export function networksOf(d: OvfDescriptor): OvfNetwork[] {
  const out = new Map<string, OvfNetwork>(d.networks.map((name) => [name, { name, listed: true, connected: [] }]));
  for (const system of d.systems) {
    for (const nic of system.nics) {
      if (nic.network === null) continue;
      if (!out.has(nic.network)) out.set(nic.network, { name: nic.network, listed: false, connected: [] });
      out.get(nic.network)!.connected.push({ system: system.id, nic: nic.label });
    }
  }
  return [...out.values()];
}

/** 4xx naming the field unless every key of `networks` is one of the descriptor's and every spec a nic this host has. */
export function checkNetworks(d: OvfDescriptor, networks: Record<string, NicSpec>, config: Config): void {
  const known = networksOf(d).map((n) => n.name);
  for (const [name, spec] of Object.entries(networks)) {
    const field = `networks/${name.replace(/~/g, '~0').replace(/\//g, '~1')}`;
    if (!known.includes(name)) {
      throw badRequest(`${field}: the descriptor has no network '${name}' (it has ${known.length ? known.map((n) => `'${n}'`).join(', ') : 'none'})`, [{ path: `/args/${field}`, message: 'not a network of the descriptor' }]);
    }
    checkBridgeNic(spec, field, config.nics);
    if (spec.type !== 'BRIDGE' && spec.host !== undefined) throw badRequest(`${field}/host: only BRIDGE nics have a host`, [{ path: `/args/${field}/host`, message: 'is for BRIDGE nics only' }]);
  }
}

/** A system's nics, each by its network's mapping; NAT where none is given (or the item names no network). */
export function nicsFor(system: OvfSystem, networks: Record<string, NicSpec>): Nic[] {
  return system.nics.map((nic) => {
    const spec = nic.network !== null && Object.hasOwn(networks, nic.network) ? networks[nic.network] : null;
    if (spec === null) return { type: 'NAT' as const };
    if (spec.type === 'BRIDGE') return { type: 'BRIDGE' as const, host: spec.host! };
    return { type: 'NAT' as const, host_loopback: spec.host_loopback ?? false };
  });
}
