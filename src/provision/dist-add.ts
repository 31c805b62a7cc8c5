import { mkdir, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Config } from '../core/config.js';
import type { TaskContext } from '../core/task.js';
import { DESCRIPTOR, type DistDescriptor, type DistStore } from '../store/dist-store.js';
import { downloadTo } from '../store/iso-download.js';
import { inspectImage } from './image-tools.js';

const MIB = 1024 * 1024;

/**
 * The body of `dist add`: download the disc image into a hidden folder, check it (qcow2 or raw,
 * no backing or data file), write its descriptor, then move the folder into place whole.
 */
export async function addDistribution(ctx: TaskContext, store: DistStore, config: Config, url: URL, name: string, descriptor: DistDescriptor, overwrite: boolean): Promise<{ name: string; format: string; bytes: number; min_disc_mib: number }> {
  const dir = store.tempDirFor(name, ctx.id);
  await ctx.addCleanup(dir);
  await mkdir(dir, { mode: 0o755 });
  const download = path.join(dir, 'disk.download');
  const bytes = await downloadTo(ctx, config, url, download, name);
  ctx.progress({ description: `checking ${name}` });
  const info = await inspectImage(config.qemu.img_binary, download);
  await rename(download, path.join(dir, `disk.${info.format}`));
  const min = Math.max(descriptor.min_disc_mib ?? 0, Math.ceil(info.virtualSize / MIB));
  await writeFile(path.join(dir, DESCRIPTOR), JSON.stringify({ ...descriptor, min_disc_mib: min }, null, 2) + '\n', { mode: 0o644 });
  await store.commit(dir, name, overwrite);
  await ctx.dropCleanup(dir);
  ctx.log(`fetched ${bytes} bytes into distribution ${name} (${info.format})`);
  return { name, format: info.format, bytes, min_disc_mib: min };
}
