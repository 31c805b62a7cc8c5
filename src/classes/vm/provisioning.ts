import { RpcError, notAcceptable } from '../../core/errors.js';
import type { TaskContext } from '../../core/task.js';
import { BOOT_DIR, type Build } from '../../hypervisor/engine.js';
import { userNet, userNetProblem } from '../../hypervisor/qemu/user-net.js';
import type { VmDefinition } from '../../hypervisor/types.js';
import type { SeedNic } from '../../provision/cloud-init.js';
import { seedTool } from '../../provision/cloud-init.js';
import { imageDisc, writeSeed, type ReimageRequest } from '../../provision/reimage.js';
import type { Distribution } from '../../store/dist-store.js';
import { parsePublicKey } from '../../store/ssh-keys.js';
import type { Services } from '../context.js';

/**
 * network-config for the VM's nics, matched by MAC: the first gets the fixed IPs (on a NAT nic
 * inside QEMU's user-net around the IPv4, whose gateway and DNS QEMU provides), the others DHCP.
 */
export function seedNics(def: VmDefinition, prefix: number): SeedNic[] {
  return def.nics.filter((n) => n.mac).map((n, i) => {
    const { ipv4, ipv6 } = i === 0 ? def.ips ?? {} : {};
    const addresses = [...(ipv4 ? [`${ipv4}/${prefix}`] : []), ...(ipv6 ? [`${ipv6}/64`] : [])];
    const nat = n.type === 'NAT' && ipv4 ? userNet(ipv4, prefix) : null;
    return { mac: n.mac!, addresses, ...(nat ? { gateway4: nat.gateway, nameservers: [nat.dns] } : {}) };
  });
}

/** 406 for fixed IPs a VM's nics cannot carry. */
export function checkIps(def: Pick<VmDefinition, 'nics' | 'ips'>, prefix: number): void {
  if (!def.ips?.ipv4 && !def.ips?.ipv6) return;
  if (def.nics.length === 0) throw notAcceptable('ips: fixed addresses need a nic');
  const problem = def.nics[0].type === 'NAT' && def.ips.ipv4 ? userNetProblem(def.ips.ipv4, prefix) : null;
  if (problem) throw notAcceptable(`ips/ipv4: ${problem}`);
}

/** The image and seed steps a reimage and a create share; `phase` names each as it starts. */
export async function reimageSteps(task: TaskContext, b: Build, dist: Distribution, req: ReimageRequest, services: Services, phase: (name: string, percent: number) => void): Promise<{ patch: Partial<VmDefinition>; instance_id: string; hostname: string }> {
  const { config } = services;
  phase('image', 10);
  const patch = await imageDisc(task, b, dist, config.qemu.img_binary, config.state_dir, BOOT_DIR);
  phase('seed', 80);
  await task.addCleanup(b.seedPath);
  const seed = await writeSeed(b, { ...req, hostname: req.hostname ?? b.def.name.replace(/[_.]/g, '-') }, seedTool(process.platform, config.qemu.img_binary), seedNics({ ...b.def, ...patch }, config.provision.nat_net_prefix));
  // What the VM was made from and which keys may sign in stay on its definition (public facts only),
  // so a facade can show them later (Deltacloud's image and keyname).
  return { patch: { ...patch, distribution: dist.name, ssh_key_fingerprints: fingerprints(req.ssh_public_key) }, ...seed };
}

/** The MD5 fingerprints of the authorized_keys lines a seed carries; a line that is no key has none. */
function fingerprints(keys: string | undefined): string[] {
  return (keys ?? '').split(/\r?\n/).flatMap((line) => {
    if (!line.trim()) return [];
    try {
      return [parsePublicKey(line).fingerprint];
    } catch {
      return [];
    }
  });
}

/** A task's phases: `phase` reports the next one as progress, `fail` rethrows an error naming the phase it happened in. */
export function phased(task: TaskContext, total: string[]) {
  let current = total[0];
  return {
    phase(name: string, percent: number) {
      current = name;
      task.progress({ percent, description: `phase ${total.indexOf(name) + 1}/${total.length}: ${name}` });
      task.log(`phase ${name}`);
    },
    fail(err: unknown): never {
      const e = err as Error;
      throw new RpcError(err instanceof RpcError ? err.code : 500, `failed in phase '${current}': ${e?.message ?? String(err)}`, [], err instanceof RpcError ? err.reason : undefined);
    },
  };
}
