/**
 * Where fetchiso may connect. A user with iso.manage names the URL and the daemon connects from
 * inside the host's network, so loopback, link-local, private and this host's own addresses are
 * refused unless `iso.allow_private` lists them; the check is made on resolved addresses (before
 * connecting, and again on the socket's peer), on every redirect.
 */
import dns, { type LookupAddress } from 'node:dns';
import net, { BlockList, type LookupFunction } from 'node:net';
import os from 'node:os';

const LOCAL_V4 = [
  '0.0.0.0/8',
  '10.0.0.0/8',
  '100.64.0.0/10',
  '127.0.0.0/8',
  '169.254.0.0/16',
  '172.16.0.0/12',
  '192.0.0.0/24',
  '192.168.0.0/16',
  '198.18.0.0/15',
  // multicast, reserved and broadcast
  '224.0.0.0/3',
];
const LOCAL_V6 = ['::/127', 'fc00::/7', 'fe80::/10', 'fec0::/10', 'ff00::/8'];

function blockList(cidrs: string[]): BlockList {
  const list = new BlockList();
  for (const cidr of cidrs) {
    const [address, prefix] = cidr.split('/');
    const type = net.isIPv6(address) ? 'ipv6' : 'ipv4';
    list.addSubnet(address, Number(prefix ?? (type === 'ipv6' ? 128 : 32)), type);
  }
  return list;
}

const LOCAL = blockList([...LOCAL_V4, ...LOCAL_V6]);

/** The policy of one fetch, from `iso.allow_private`. */
export class Destinations {
  private readonly allowed: BlockList;

  constructor(allow: string[]) {
    this.allowed = blockList(allow);
  }

  refuses(address: string): boolean {
    const type = net.isIPv6(address) ? 'ipv6' : 'ipv4';
    if (this.allowed.check(address, type)) return false;
    if (LOCAL.check(address, type)) return true;
    // The host's public addresses reach its own services as well as loopback does.
    return Object.values(os.networkInterfaces()).some((list) => list?.some((i) => i.address === address));
  }

  /** For net.connect: resolves as dns.lookup does, keeping only the addresses that may be connected to. */
  lookup(): LookupFunction {
    return ((hostname: string, options: dns.LookupOptions, callback: (err: Error | null, address: string | LookupAddress[], family?: number) => void) => {
      dns.lookup(hostname, { ...options, all: true }, (err, addresses) => {
        if (err) return callback(err, '');
        const ok = addresses.filter((a) => !this.refuses(a.address));
        if (ok.length === 0) return callback(refusedDestination(), '');
        if (options.all) callback(null, ok);
        else callback(null, ok[0].address, ok[0].family);
      });
    }) as LookupFunction;
  }

  /** The address to connect to for `hostname` (an address literal or a name), or the uniform refusal. */
  async resolve(hostname: string): Promise<string> {
    const addresses = net.isIP(hostname) ? [hostname] : (await dns.promises.lookup(hostname, { all: true })).map((a) => a.address);
    const ok = addresses.find((a) => !this.refuses(a));
    if (ok === undefined) throw refusedDestination();
    return ok;
  }
}

/** Errors with this code read exactly as a refused connection (see classify): no port-scanning oracle. */
export const REFUSED_DESTINATION = 'EHYVED_DESTINATION';

export function refusedDestination(): NodeJS.ErrnoException {
  return Object.assign(new Error('destination not allowed'), { code: REFUSED_DESTINATION });
}
