import { copyFile, mkdir, rename } from 'node:fs/promises';
import path from 'node:path';
import { customAlphabet } from 'nanoid';
import { RpcError, notAcceptable } from '../core/errors.js';
import type { TaskContext } from '../core/task.js';
import type { Build } from '../hypervisor/engine.js';
import type { VmDefinition } from '../hypervisor/types.js';
import type { Distribution } from '../store/dist-store.js';
import { buildSeed, type SeedNic, type SeedTool } from './cloud-init.js';
import { convertImage, inspectImage, resizeImage } from './image-tools.js';
import { hashPassword } from './sha512-crypt.js';

const MIB = 1024 * 1024;
const newInstance = customAlphabet('0123456789abcdefghijklmnopqrstuvwxyz', 16);

/** What a reimage asks for. The secrets in it live only until the seed is written. */
export interface ReimageRequest {
  distribution: string;
  root_password?: string;
  ssh_public_key?: string;
  firstboot_script?: string;
  hostname?: string;
}

/** 406 unless the VM's first disc can hold the distribution as its descriptor says. */
export function checkDiscFits(def: Pick<VmDefinition, 'discs'>, dist: Distribution): void {
  const disc = def.discs[0];
  if (!disc) throw notAcceptable('discs: a distribution needs a disc to be written onto');
  if (disc.size_mib < dist.min_disc_mib) throw notAcceptable(`discs/0: disc '${disc.label}' (${disc.size_mib} MiB) is smaller than distribution '${dist.name}' needs (${dist.min_disc_mib} MiB)`);
}

/**
 * Writes the distribution onto the first disc: converted into a hidden file beside it, grown to
 * the disc's size, then renamed over it, so a failure leaves the old disc as it was. Direct-boot
 * files go to images/boot as "<distribution>.<file>". Returns what the definition must change.
 */
export async function imageDisc(task: TaskContext, b: Build, dist: Distribution, imgBinary: string, stateDir: string, bootDir: string): Promise<Partial<VmDefinition>> {
  checkDiscFits(b.def, dist);
  const disc = b.def.discs[0];
  const info = await inspectImage(imgBinary, dist.disk, dist.format);
  const need = Math.ceil(info.virtualSize / MIB);
  if (need > disc.size_mib) throw notAcceptable(`discs/0: disc '${disc.label}' (${disc.size_mib} MiB) is smaller than distribution '${dist.name}''s image (${need} MiB)`);
  const target = b.discPath(0);
  const temp = path.join(path.dirname(target), `.${path.basename(target)}.reimage`);
  await mkdir(path.dirname(target), { recursive: true, mode: 0o700 });
  await task.addCleanup(temp);
  await convertImage(imgBinary, { file: dist.disk, format: dist.format }, { file: temp, format: b.discFormat }, (p) => task.progress({ percent: p, description: `writing ${dist.name} onto disc ${disc.label}` }), task.signal);
  await resizeImage(imgBinary, temp, b.discFormat, disc.size_mib);
  await rename(temp, target);
  await task.dropCleanup(temp);
  if (!dist.kernel) return { type: dist.firmware, kernel: undefined, initrd: undefined, cmdline: undefined };
  const boot = path.join(stateDir, bootDir);
  await mkdir(boot, { recursive: true });
  const place = async (file: string) => {
    const name = `${dist.name}.${path.basename(file)}`;
    await copyFile(file, path.join(boot, `.${name}.part`));
    await rename(path.join(boot, `.${name}.part`), path.join(boot, name));
    return name;
  };
  return { type: dist.firmware, kernel: await place(dist.kernel), initrd: dist.initrd ? await place(dist.initrd) : undefined, cmdline: dist.cmdline };
}

/** The network-config of a VM with fixed IPs: its first nic gets them, matched by its MAC. */
export type NicPlan = (def: VmDefinition) => SeedNic[];

/**
 * Builds and places the seed (fresh instance-id, so the firstboot script runs once more). The
 * password is hashed here and the clear text goes no further.
 */
export async function writeSeed(b: Build, req: ReimageRequest, tool: SeedTool, nics: SeedNic[]): Promise<{ instance_id: string; hostname: string }> {
  const instanceId = `iid-${newInstance()}`;
  const hostname = req.hostname ?? b.def.name;
  await mkdir(b.dir, { recursive: true, mode: 0o700 });
  try {
    await buildSeed(tool, {
      instanceId,
      hostname,
      ...(req.root_password !== undefined ? { rootHash: hashPassword(req.root_password) } : {}),
      ...(req.ssh_public_key !== undefined ? { sshKeys: req.ssh_public_key.split(/\r?\n/).map((k) => k.trim()).filter(Boolean) } : {}),
      ...(req.firstboot_script !== undefined ? { firstboot: req.firstboot_script } : {}),
      nics,
    }, b.seedPath);
  } catch (err) {
    // The tool's message names temp paths only, never the seed's contents.
    throw new RpcError(500, `building the cloud-init seed failed: ${(err as Error).message.split('\n')[0]}`);
  }
  return { instance_id: instanceId, hostname };
}
