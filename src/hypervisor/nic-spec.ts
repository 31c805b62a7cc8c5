import { badRequest, notFound } from '../core/errors.js';

/**
 * A BRIDGE nic as a create (`nics/N`) or a deploy (`networks/NAME`) asks for it: it names one of
 * the host NICs configured, and has no host_loopback (that is NAT's). 4xx naming `field`'s part.
 */
export function checkBridgeNic(n: { type: string; host?: string; host_loopback?: boolean }, field: string, hostNics: Record<string, unknown>): void {
  if (n.type !== 'BRIDGE') return;
  if (n.host === undefined) throw badRequest(`${field}/host: a BRIDGE nic needs the NICID of a host NIC`, [{ path: `/args/${field}/host`, message: 'is required for BRIDGE' }]);
  if (!Object.hasOwn(hostNics, n.host)) throw notFound(`${field}/host: no host NIC with NICID '${n.host}'`);
  if (n.host_loopback !== undefined) throw badRequest(`${field}/host_loopback: only NAT nics have it`, [{ path: `/args/${field}/host_loopback`, message: 'is for NAT nics only' }]);
}
