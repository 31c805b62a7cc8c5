/**
 * QEMU's user-mode network around a fixed IPv4: the guest's address is the first its DHCP server
 * hands out (dhcpstart), inside a network of `prefix` bits whose second address is the gateway
 * (QEMU's host side) and third the DNS forwarder, as QEMU lays out 10.0.2.0/24 by default.
 */
export interface UserNet { net: string; prefix: number; gateway: string; dns: string; address: string }

const toInt = (ip: string) => ip.split('.').reduce((n, o) => n * 256 + Number(o), 0);
const toIp = (n: number) => [24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join('.');

export function userNet(ipv4: string, prefix: number): UserNet {
  const size = 2 ** (32 - prefix);
  const base = toInt(ipv4) - (toInt(ipv4) % size);
  return { net: toIp(base), prefix, gateway: toIp(base + 2), dns: toIp(base + 3), address: ipv4 };
}

/** Why `ipv4` cannot be a NAT guest's address in its network, or null when it can. */
export function userNetProblem(ipv4: string, prefix: number): string | null {
  const size = 2 ** (32 - prefix);
  const offset = toInt(ipv4) % size;
  return offset < 4 || offset >= size - 1 ? `${ipv4} is the network, gateway, DNS or broadcast address of its /${prefix} (QEMU user-net takes the first three)` : null;
}

/** The `-netdev user` options that give the guest `ipv4` (none without one: QEMU's 10.0.2.15). */
export function userNetOptions(ipv4: string | undefined, prefix: number): string {
  if (ipv4 === undefined) return '';
  const n = userNet(ipv4, prefix);
  return `,net=${n.net}/${prefix},dhcpstart=${ipv4}`;
}
