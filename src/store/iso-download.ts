import type { TaskContext } from '../core/task.js';
import type { Config } from '../core/config.js';
import { downloadTo } from './download.js';
import type { IsoStore } from './iso-store.js';

/**
 * The body of a fetchiso task: stream the URL into a hidden temp file in the store, then move it
 * into place only once complete (and its size matches what the server announced).
 */
export async function downloadIso(
  ctx: TaskContext,
  store: IsoStore,
  config: Config,
  url: URL,
  name: string,
  overwrite: boolean,
): Promise<{ name: string; bytes: number }> {
  const temp = store.tempPathFor(name, ctx.id);
  await ctx.addCleanup(temp);
  const bytes = await downloadTo(ctx, config, url, temp, name);
  await store.commit(temp, name, overwrite);
  await ctx.dropCleanup(temp);
  ctx.log(`fetched ${bytes} bytes into ${name}`);
  return { name, bytes };
}
